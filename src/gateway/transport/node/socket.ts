/**
 * uWS's WebSocket calls on a `ws` socket: `send` with uWS's backpressure result (a behavior's
 * `maxBackpressure` drops past the limit, `send` returning 2), `cork` on the TCP socket, topic
 * membership, and `end` running the close handler at once as uWS does.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket as WsSocket } from 'ws';
import type { WebSocket } from '../types.ts';
import type { Body } from './bytes.ts';
import type { Subscriber, Topics } from './topics.ts';

/** uWS's WebSocket calls on a `ws` socket. */
export class NodeSocket<UserData> implements WebSocket<UserData>, Subscriber {
  /** Topics this socket is in, so a close leaves them all. */
  readonly topics = new Set<string>();
  /** Something arrived since the last idle round. */
  alive = true;
  closed = false;

  constructor(
    readonly ws: WsSocket,
    private readonly raw: Duplex,
    private readonly userData: UserData,
    private readonly registry: Topics,
    private readonly maxBackpressure: number,
    /** Runs the behavior's close handler, once (`WsEndpoint.accept`). */
    private readonly onClosed: (code: number, reason: Buffer) => void,
  ) {}

  send(message: Body, isBinary = false): number {
    if (this.closed || this.ws.readyState !== 1) return 2;
    if (this.maxBackpressure > 0 && this.ws.bufferedAmount > this.maxBackpressure) return 2;
    this.ws.send(message, { binary: isBinary });
    return this.ws.bufferedAmount > 0 ? 0 : 1;
  }

  end(code?: number, shortMessage?: string): void {
    if (this.closed) return;
    this.ws.close(code, shortMessage);
    // As uWS: the close handler runs now, not when the peer answers the close frame (a client
    // that stopped reading may never answer; `ws` cuts it after its close timeout).
    this.onClosed(code ?? 1005, Buffer.from(shortMessage ?? ''));
  }

  cork(cb: () => void): WebSocket<UserData> {
    // Frames written inside go out in one write, as with uWS.
    this.raw.cork();
    try {
      cb();
    } finally {
      this.raw.uncork();
    }
    return this;
  }

  getBufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  getUserData(): UserData {
    return this.userData;
  }

  subscribe(topic: string): boolean {
    if (this.closed) return false;
    this.topics.add(topic);
    return this.registry.subscribe(topic, this);
  }

  unsubscribe(topic: string): boolean {
    this.topics.delete(topic);
    return this.registry.unsubscribe(topic, this);
  }

  publish(topic: string, message: Body, isBinary = false): boolean {
    return this.registry.publish(topic, message, isBinary, this);
  }

  /** The socket closed: out of every topic. */
  leaveAll(): void {
    for (const topic of this.topics) this.registry.unsubscribe(topic, this);
    this.topics.clear();
  }
}
