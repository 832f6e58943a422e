/**
 * A Socket.IO test client with the same surface as `TestClient` (frames, waitFor, request,
 * call, messages, close), so scenarios can run over either transport. Every server event is
 * recorded as a frame; replies come back through acks.
 */
import { io, type Socket } from 'socket.io-client';
import type { ReplyOp, WireMessage } from '../../src/protocol/index.ts';
import { type CallResult, callResult, type Frame } from './client.ts';

export interface IoConnectOptions {
  /** A resume position (`auth.resume`). */
  resume?: string;
  since?: string;
  device?: string;
  /** Default: polling first, then upgrade (what browsers do). */
  transports?: ('polling' | 'websocket')[];
  /** Send the token as query `token` instead of `auth.token`. */
  tokenInQuery?: boolean;
}

/** `ws://host:port/ws` → `http://host:port` (where `/socket.io/` is served). */
export function ioUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `http://${u.host}`;
}

export class IoTestClient {
  readonly frames: Frame[] = [];
  /** Code of the server's `close` event, or 1006 if the connection dropped without one. */
  closeCode: number | null = null;
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private closeWaiters: ((code: number) => void)[] = [];
  private seq = 0;

  private constructor(readonly socket: Socket) {
    socket.onAny((_event: string, payload: unknown) => {
      const f = payload as Frame;
      this.frames.push(f);
      if (f.op === 'close' && typeof f.code === 'number') this.closeCode = f.code;
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    });
    socket.on('disconnect', () => {
      this.closeCode ??= 1006;
      for (const w of this.closeWaiters) w(this.closeCode);
      this.closeWaiters = [];
    });
  }

  private static open(url: string, token: string | null, opts: IoConnectOptions): Socket {
    const auth: Record<string, string> = {};
    const query: Record<string, string> = {};
    if (token !== null) (opts.tokenInQuery ? query : auth).token = token;
    if (opts.resume) auth.resume = opts.resume;
    if (opts.since) auth.since = opts.since;
    if (opts.device) auth.device = opts.device;
    return io(url, {
      auth,
      query,
      forceNew: true,
      reconnection: false,
      transports: opts.transports ?? ['polling', 'websocket'],
    });
  }

  /** Connects and waits for `welcome`. */
  static async connect(url: string, token: string, opts: IoConnectOptions = {}): Promise<IoTestClient> {
    const socket = IoTestClient.open(url, token, opts);
    const client = new IoTestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
    await client.waitFor((f) => f.op === 'welcome');
    return client;
  }

  /** Expects the handshake to be refused; resolves with the `connect_error`. */
  static async connectError(
    url: string,
    token: string | null,
    opts: IoConnectOptions = {},
  ): Promise<Error & { data?: { code?: string } }> {
    const socket = IoTestClient.open(url, token, opts);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        socket.close();
        reject(new Error('handshake unexpectedly accepted'));
      });
      socket.once('connect_error', (err) => {
        socket.close();
        resolve(err as Error & { data?: { code?: string } });
      });
    });
  }

  /** Emits an event without an ack. */
  emit(event: string, payload?: unknown): void {
    if (payload === undefined) this.socket.emit(event);
    else this.socket.emit(event, payload);
  }

  waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.nextFrame(pred, timeoutMs);
  }

  nextFrame(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`timed out waiting for event; last: ${JSON.stringify(this.frames.slice(-3))}`)),
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

  /** Emits `op` with the fields and resolves with the reply frame passed to the ack. */
  async request(op: string, fields: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<Frame> {
    const id = `q${++this.seq}`;
    return (await this.socket.timeout(timeoutMs).emitWithAck(op, { id, ...fields })) as Frame;
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
    if (this.closeCode !== null && !this.socket.connected) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for disconnect')), timeoutMs);
      this.closeWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  async close(): Promise<void> {
    if (!this.socket.connected) {
      this.socket.close();
      return;
    }
    const done = new Promise<void>((resolve) => this.socket.once('disconnect', () => resolve()));
    this.socket.close();
    await done;
  }
}
