/**
 * Answering an asynchronous uWS HTTP request safely: uWS forbids touching a response after it was
 * aborted or ended, and writes from outside its own callbacks must be corked. `HttpReply` tracks
 * both, sends typed errors as JSON bodies with the status their code maps to, and streams a body
 * of known length with backpressure (`tryEnd` + `onWritable`).
 */

import { ERROR_STATUS, statusLine } from '../api/status.ts';
import { ChatError, ErrorCode } from '../protocol/index.ts';
import type { HttpResponse } from './transport/types.ts';

export type Headers = Readonly<Record<string, string>>;

export class HttpReply {
  private aborted = false;
  private ended = false;
  /** The status line went out (a stream began): an error can then only cut the connection. */
  private started = false;
  /** Wakes a stream waiting for the socket to drain when the request is aborted. */
  private wake: (() => void) | null = null;
  private abortHook: (() => void) | null = null;

  constructor(private readonly res: HttpResponse) {
    // uWS keeps one abort handler per response: this is it (others go through `onAborted`).
    res.onAborted(() => {
      this.aborted = true;
      this.wake?.();
      this.abortHook?.();
    });
  }

  /** Runs `hook` if the client goes away before the response ended (after `done` turns true). */
  onAborted(hook: () => void): void {
    this.abortHook = hook;
  }

  /** True once nothing more may be written (aborted by the client, or ended). */
  get done(): boolean {
    return this.aborted || this.ended;
  }

  get wasAborted(): boolean {
    return this.aborted;
  }

  /** Pauses or resumes reading the request body (no-op once done). */
  flow(paused: boolean): void {
    if (this.done) return;
    if (paused) this.res.pause();
    else this.res.resume();
  }

  /** Ends with a JSON body. `close` also closes the connection (a body left unread). */
  json(status: string, body: unknown, headers: Headers = {}, close = false): void {
    this.end(status, { 'content-type': 'application/json', ...headers }, JSON.stringify(body), close);
  }

  /**
   * Ends with a typed error (`{error: {code, message, details}}`) and its status; anything but a
   * `ChatError` is `internal`. `close`: the request body is left unread, so the connection goes.
   */
  fail(err: unknown, close = false, status?: string): void {
    if (this.started && !this.done) {
      this.ended = true;
      this.res.close();
      return;
    }
    const e = err instanceof ChatError ? err : new ChatError(ErrorCode.Internal, 'internal error');
    this.json(
      status ?? statusLine(ERROR_STATUS[e.code]),
      { error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } },
      {},
      close,
    );
  }

  end(status: string, headers: Headers, body: string | Uint8Array = '', close = false): void {
    if (this.done) return;
    this.ended = true;
    this.res.cork(() => {
      this.head(status, headers);
      this.res.end(body, close);
    });
  }

  /** Ends without a body (304), reporting no length. */
  endEmpty(status: string, headers: Headers): void {
    if (this.done) return;
    this.ended = true;
    this.res.cork(() => {
      this.head(status, headers);
      this.res.endWithoutBody();
    });
  }

  /**
   * Streams `total` bytes from `chunks` (uWS writes Content-Length from `total`), waiting for the
   * socket to drain whenever it is full. Stops quietly when the client goes away.
   */
  async stream(
    status: string,
    headers: Headers,
    total: number,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (this.done) return;
    let first = true;
    for await (const chunk of chunks) {
      if (this.done) return;
      const base = this.res.getWriteOffset();
      let ok = false;
      let finished = false;
      this.res.cork(() => {
        if (first) {
          this.started = true;
          this.head(status, headers);
        }
        [ok, finished] = this.res.tryEnd(chunk, total);
      });
      first = false;
      if (finished) {
        this.ended = true;
        return;
      }
      if (!ok) await this.drained(chunk, base, total);
      if (this.ended) return;
    }
  }

  /** Resolves once the rest of `chunk` (from the write offset on) went out, or the request was aborted. */
  private drained(chunk: Uint8Array, base: number, total: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.res.onWritable((offset) => {
        if (this.aborted) return true;
        const [ok, finished] = this.res.tryEnd(chunk.subarray(offset - base), total);
        if (finished) this.ended = true;
        if (ok || finished) {
          this.wake = null;
          resolve();
        }
        return ok;
      });
    });
  }

  private head(status: string, headers: Headers): void {
    this.res.writeStatus(status);
    for (const [k, v] of Object.entries(headers)) this.res.writeHeader(k, v);
  }
}
