/**
 * The SDK's side of attachments (docs/protocol.md, "Attachments"): upload and download over
 * HTTP on the gateway the client uses, with the same token as its WebSocket, sent as
 * `Authorization: Bearer` (never in a URL). Failures are `ChatClientError`s with the server's
 * code (`too_large`, `unsupported_type`, `not_found`, `unauthorized`, …) or `connect_failed`
 * when the gateway could not be reached. A refused token is renewed once, when the client's
 * token source can renew it.
 */
import type { WireAttachment } from '../protocol/index.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';

export type AttachmentData = Blob | ArrayBuffer | Uint8Array;

export interface UploadOptions {
  /** The file's type, as the server's `attachments.allowedTypes` lists it (e.g. `image/png`). */
  contentType: string;
  /** The file name shown to readers. */
  name?: string;
}

export interface DownloadOptions {
  /** Inclusive byte range; the whole file when absent. */
  range?: { start: number; end?: number };
}

/** What the attachment calls need from the client. */
export interface AttachmentHttpDeps {
  /** The WebSocket URL of the gateway in use (its HTTP origin serves the files). */
  currentUrl(): string;
  token(): Promise<string>;
  /** Drops the cached token; true when a new one can be had. */
  renewToken(): boolean;
  fetch?: typeof fetch;
}

/** `wss://host/ws` → `https://host`. */
export function httpBase(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = u.pathname.replace(/\/ws\/?$/, '') || '/';
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/$/, '');
}

export class AttachmentHttp {
  constructor(private readonly d: AttachmentHttpDeps) {}

  async upload(conversationId: string, data: AttachmentData, opts: UploadOptions): Promise<WireAttachment> {
    const query = new URLSearchParams({ conversationId, ...(opts.name ? { name: opts.name } : {}) });
    const res = await this.request(`/attachments?${query}`, {
      method: 'POST',
      headers: { 'content-type': opts.contentType },
      body: data as NonNullable<RequestInit['body']>,
    });
    const body = (await res.json()) as { attachment: WireAttachment };
    return body.attachment;
  }

  /** The file's bytes as a Blob (typed with its content type); a browser shows it via `URL.createObjectURL`. */
  async download(id: string, opts: DownloadOptions = {}): Promise<Blob> {
    const headers: Record<string, string> = {};
    if (opts.range) headers.range = `bytes=${opts.range.start}-${opts.range.end ?? ''}`;
    const res = await this.request(`/attachments/${encodeURIComponent(id)}`, { headers });
    return res.blob();
  }

  private async request(path: string, init: RequestInit, renewed = false): Promise<Response> {
    const doFetch = this.d.fetch ?? globalThis.fetch;
    const token = await this.d.token();
    let res: Response;
    try {
      res = await doFetch(`${httpBase(this.d.currentUrl())}${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
      });
    } catch (cause) {
      throw new ChatClientError(
        LocalErrorCode.ConnectFailed,
        `cannot reach the gateway for ${path}`,
        undefined,
        {
          cause,
        },
      );
    }
    if (res.ok) return res;
    const error = await readError(res);
    // A body (a Blob or stream) may be sent once only if it is not a stream; ours never are.
    if (error.code === 'unauthorized' && !renewed && this.d.renewToken())
      return this.request(path, init, true);
    throw error;
  }
}

async function readError(res: Response): Promise<ChatClientError> {
  try {
    const body = (await res.json()) as {
      error?: { code?: string; message?: string; details?: Record<string, string | number> };
    };
    if (body.error?.code) {
      return new ChatClientError(body.error.code, body.error.message ?? res.statusText, body.error.details);
    }
  } catch {
    // Not a JSON error body: reported by status below.
  }
  return new ChatClientError(LocalErrorCode.Protocol, `HTTP ${res.status} without an error body`);
}
