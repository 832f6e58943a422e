/** A raw-protocol test client over `ws` that records every frame it receives. */
import WebSocket from 'ws';
import type { ReplyOf, ReplyOp, ResultOf, ResultOp, WireMessage } from '../../src/protocol/index.ts';

/**
 * A frame as received: loosely typed on purpose, since tests also look at what a broken or
 * hostile exchange produces. Typed views come from `call` and `resultData`.
 */
export type Frame = Record<string, unknown> & { op: string };

/** What `call(op)` resolves with: a `result`'s data, or the reply frame of `send`, `sync`, `ping`. */
export type CallResult<Op extends ReplyOp> = Op extends ResultOp ? ResultOf<Op> : ReplyOf<Op>;

/**
 * The `data` of a `result` frame answering `op`, typed by the protocol (`ResultOf<op>`); throws
 * if `reply` is any other frame. The one place the tests trust a frame's shape.
 */
export function resultData<Op extends ResultOp>(op: Op, reply: Frame): ResultOf<Op> {
  if (reply.op !== 'result') throw new Error(`${op}: expected a result, got ${JSON.stringify(reply)}`);
  return reply.data as ResultOf<Op>;
}

/** `call`'s reply handling, shared by the WebSocket and Socket.IO test clients. */
export function callResult<Op extends ReplyOp>(op: Op, reply: Frame): CallResult<Op> {
  if (reply.op === 'error') throw new Error(`${op} failed: ${String(reply.code)} ${String(reply.message)}`);
  return (reply.op === 'result' ? reply.data : reply) as CallResult<Op>;
}

export interface ConnectOptions {
  /** A resume position (`resume=`). */
  resume?: string;
  /** Legacy: the newest message id seen. */
  since?: string;
  device?: string;
}

/** How long `connect` waits for the WebSocket handshake. */
const CONNECT_TIMEOUT_MS = 20_000;

export class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private closeWaiters: ((code: number) => void)[] = [];
  private seq = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.closeWaiters) w(code);
    });
  }

  static async connect(url: string, token: string, opts: ConnectOptions = {}): Promise<TestClient> {
    const u = new URL(url);
    u.searchParams.set('token', token);
    if (opts.resume) u.searchParams.set('resume', opts.resume);
    if (opts.since) u.searchParams.set('since', opts.since);
    if (opts.device) u.searchParams.set('device', opts.device);
    const ws = new WebSocket(u, 'chat.v1');
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      // `ws` has no handshake deadline of its own: a server that never answers would hang here.
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no WebSocket handshake from ${u.host} within ${CONNECT_TIMEOUT_MS} ms`));
      }, CONNECT_TIMEOUT_MS);
      const settle = (err?: Error) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      ws.once('open', () => settle());
      ws.once('error', settle);
      ws.once('unexpected-response', (_req, res) => settle(new Error(`HTTP ${res.statusCode}`)));
    });
    await client.waitFor((f) => f.op === 'welcome');
    return client;
  }

  /** Resolves with the HTTP status code of a refused upgrade (rejects if it is accepted). */
  static async connectExpectingStatus(
    url: string,
    token: string | null,
    query: Record<string, string> = {},
  ): Promise<number> {
    return (await TestClient.refusedUpgrade(url, token, query)).status;
  }

  /**
   * Expects the upgrade to be refused; resolves with the HTTP status and the JSON body. `query`
   * is added as is (`since`, `device`), so tests can pass what `connect` would not.
   */
  static async refusal(
    url: string,
    token: string,
    query: Record<string, string>,
  ): Promise<{ status: number; body: unknown }> {
    const { status, text } = await TestClient.refusedUpgrade(url, token, query);
    return { status, body: JSON.parse(text) };
  }

  /** Opens a WebSocket that must be refused; resolves with the refusal's status and body text. */
  private static refusedUpgrade(
    url: string,
    token: string | null,
    query: Record<string, string>,
  ): Promise<{ status: number; text: string }> {
    const u = new URL(url);
    if (token !== null) u.searchParams.set('token', token);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    const ws = new WebSocket(u);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.close();
        reject(new Error('upgrade unexpectedly accepted'));
      });
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += String(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      ws.once('error', () => {});
    });
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Waits for the first frame (already received or future) matching `pred`. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.nextFrame(pred, timeoutMs);
  }

  /** Waits for a frame matching `pred` that has not arrived yet. */
  nextFrame(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for frame (socket close code: ${this.closeCode ?? 'open'}); last: ${JSON.stringify(this.frames.slice(-3))}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Sends a request and resolves with its reply (`result`, `sent`, `pong`, `synced` or `error`). */
  async request(op: string, fields: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<Frame> {
    const id = `r${++this.seq}`;
    const reply = this.nextFrame((f) => f.id === id && f.op !== 'message', timeoutMs);
    this.ws.send(JSON.stringify({ op, id, ...fields }));
    return reply;
  }

  /**
   * Like `request`, but throws if the reply is an error frame, and is typed by the op: the
   * `data` of a `result` (`ResultOf<op>`), else the reply frame itself (`sent`, `pong`, `synced`).
   */
  async call<Op extends ReplyOp>(op: Op, fields: Record<string, unknown> = {}): Promise<CallResult<Op>> {
    return callResult(op, await this.request(op, fields));
  }

  messages(
    conversationId?: string,
  ): { id: string; conversationId: string; body: string; senderId: string; replay: boolean }[] {
    return this.frames
      .filter((f) => f.op === 'message')
      .map((f) => ({
        ...(f.message as WireMessage),
        replay: f.replay as boolean,
      }))
      .filter((m) => conversationId === undefined || m.conversationId === conversationId);
  }

  waitClose(timeoutMs = 10_000): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
