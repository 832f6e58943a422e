/**
 * HTTP routing as uWS does it: route patterns (exact, `:name` segments, trailing `*`) ranked so
 * the most specific wins whatever the order they were added in, and the URL split into path and
 * raw query.
 */
import type { HttpRequest, HttpResponse } from '../types.ts';

export type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** A route pattern of uWS's kinds: exact, with `:name` segments, or ending in `*`. */
export class Route {
  readonly segments: string[];
  readonly wildcard: boolean;
  /** Lower wins: exact before parameters before wildcards; longer wildcards first. */
  readonly rank: number;

  constructor(
    readonly method: string,
    pattern: string,
    readonly handler: Handler,
  ) {
    this.wildcard = pattern.endsWith('*');
    this.segments = (this.wildcard ? pattern.slice(0, -1) : pattern).split('/');
    if (this.wildcard) this.segments.pop();
    const params = this.segments.some((s) => s.startsWith(':'));
    this.rank = this.wildcard ? 2000 - this.segments.length : params ? 1000 : 0;
  }

  /** The parameters when `path` matches, else null. */
  match(method: string, path: string[]): string[] | null {
    if (this.method !== 'any' && this.method !== method) return null;
    if (this.wildcard ? path.length < this.segments.length : path.length !== this.segments.length)
      return null;
    const params: string[] = [];
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      if (seg.startsWith(':')) params.push(decodeURIComponent(path[i] ?? ''));
      else if (seg !== path[i]) return null;
    }
    return params;
  }
}

/** `url` as [path, raw query (undefined when there is no `?`)]. */
export function splitUrl(url: string | undefined): [string, string | undefined] {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? [u, undefined] : [u.slice(0, q), u.slice(q + 1)];
}
