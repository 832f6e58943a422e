/**
 * uWS's request and response calls on `node:http`'s `IncomingMessage` and `ServerResponse`:
 * bodies stream both ways with their backpressure (`onData` from the request stream, held back by
 * `pause`/`resume`; `tryEnd` via `write`, `onWritable` on the response's `drain`), and a response
 * closed before it ended is uWS's abort.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { arrayBufferOf, type Body, toBuffer } from './bytes.ts';

/** A status line such as `404 Not Found` as [code, message (undefined when none)]. */
export function parseStatus(line: string): [number, string | undefined] {
  const m = /^(\d{3})\s*(.*)$/.exec(line);
  if (!m) throw new Error(`bad status line: ${line}`);
  return [Number(m[1]), m[2] || undefined];
}

export class NodeRequest implements HttpRequest {
  private params: URLSearchParams | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly path: string,
    private readonly rawQuery: string | undefined,
    private readonly routeParams: string[],
  ) {}

  getHeader(key: string): string {
    const v = this.req.headers[key];
    return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
  }

  getQuery(): string | undefined;
  getQuery(key: string): string | undefined;
  getQuery(key?: string): string | undefined {
    if (key === undefined) return this.rawQuery;
    if (this.rawQuery === undefined) return undefined;
    this.params ??= new URLSearchParams(this.rawQuery);
    return this.params.get(key) ?? undefined;
  }

  getParameter(index: number): string | undefined {
    return this.routeParams[index];
  }

  getUrl(): string {
    return this.path;
  }

  getMethod(): string {
    return (this.req.method ?? 'GET').toLowerCase();
  }

  forEach(cb: (key: string, value: string) => void): void {
    for (const [k, v] of Object.entries(this.req.headers)) {
      if (v !== undefined) cb(k, Array.isArray(v) ? v.join(', ') : v);
    }
  }
}

/** uWS's response calls on a `ServerResponse`. */
export class NodeResponse implements HttpResponse {
  private ended = false;
  private offset = 0;
  private abortHandler: (() => void) | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    // Closed before it ended: the client went away (uWS's abort).
    res.on('close', () => {
      if (this.ended) return;
      this.ended = true;
      this.abortHandler?.();
    });
  }

  writeStatus(status: string): HttpResponse {
    const [code, message] = parseStatus(status);
    this.res.statusCode = code;
    if (message) this.res.statusMessage = message;
    return this;
  }

  writeHeader(key: string, value: string): HttpResponse {
    if (!this.res.headersSent) this.res.appendHeader(key, value);
    return this;
  }

  end(body: Body = '', closeConnection = false): HttpResponse {
    if (this.ended) return this;
    this.ended = true;
    if (closeConnection && !this.res.headersSent) this.res.setHeader('connection', 'close');
    this.res.end(toBuffer(body));
    return this;
  }

  endWithoutBody(): HttpResponse {
    if (this.ended) return this;
    this.ended = true;
    this.res.end();
    return this;
  }

  tryEnd(chunk: Uint8Array | ArrayBuffer, totalSize: number): [boolean, boolean] {
    if (this.ended) return [true, true];
    if (!this.res.headersSent) this.res.setHeader('content-length', totalSize);
    let ok = !this.res.writableNeedDrain;
    if (chunk.byteLength > 0) {
      ok = this.res.write(toBuffer(chunk));
      this.offset += chunk.byteLength;
    }
    if (this.offset >= totalSize) {
      this.ended = true;
      this.res.end();
      return [true, true];
    }
    return [ok, false];
  }

  getWriteOffset(): number {
    return this.offset;
  }

  onWritable(handler: (offset: number) => boolean): HttpResponse {
    // `write` took the whole chunk; `drain` says the socket took it.
    const wait = () =>
      this.res.once('drain', () => {
        if (!this.ended && !handler(this.offset)) wait();
      });
    wait();
    return this;
  }

  onAborted(handler: () => void): HttpResponse {
    this.abortHandler = handler;
    return this;
  }

  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse {
    this.req.on('data', (chunk: Buffer) => handler(arrayBufferOf(chunk), false));
    this.req.on('end', () => handler(new ArrayBuffer(0), true));
    return this;
  }

  pause(): void {
    this.req.pause();
  }

  resume(): void {
    this.req.resume();
  }

  close(): HttpResponse {
    this.ended = true;
    this.res.destroy();
    return this;
  }

  cork(cb: () => void): HttpResponse {
    this.res.cork();
    try {
      cb();
    } finally {
      this.res.uncork();
    }
    return this;
  }

  upgrade(): void {
    throw new Error('upgrade: not a WebSocket upgrade request');
  }
}
