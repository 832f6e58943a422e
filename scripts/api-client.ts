/**
 * The server API as the operator commands (`npm run erase`, `npm run move-users`) call it: JSON
 * in and out, the API key as a bearer token, any non-2xx an error with the status and body.
 */
const API_PREFIX = '/api';

export type ApiCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

/** Calls to the gateway at `url` (its HTTP base, e.g. `http://127.0.0.1:8080`) with API key `key`. */
export function apiClient(url: string, key: string): ApiCall {
  const base = `${url.replace(/\/$/, '')}${API_PREFIX}`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  return async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  };
}
