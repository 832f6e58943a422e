/**
 * The raw WebSocket transport's connection: a uWS socket adapted to `TransportConnection`, with
 * its frames written once per event-loop turn. The `/ws` endpoint (`ws-endpoint.ts`) creates one per socket.
 */

import { randomUUID } from 'node:crypto';
import { CloseCode, closeReason } from '../errors.ts';
import type { ServerFrame } from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';
import type { Identity } from './auth.ts';
import { DRAIN_LOW_WATER_BYTES } from './constants.ts';
import type { LocalTopics } from './local-topics.ts';
import type { ReplayFrom } from './ops/replay.ts';
import type { Session, TransportConnection } from './sessions.ts';
import type { WebSocket } from './transport/types.ts';

/** What the upgrade learned, needed until the socket opens. */
export interface Upgrade {
  identity: Identity;
  device: string;
  /** Where the first replay starts (connect parameters `resume`, `since`). */
  from: ReplayFrom;
}

/** What uWS keeps per socket, from the upgrade on. */
export interface SocketData {
  /** Null once the socket opened: kept for the connection's life it would cost every idle one. */
  upgrade: Upgrade | null;
  conn: WsConnection | null;
  session: Session | null;
}

/** Connections with frames queued this event-loop turn; written out by `flushQueued`. */
const queuedConnections = new Set<WsConnection>();
let flushScheduled = false;

/** Writes every queued connection's frames, one corked write per connection. */
function flushQueued(): void {
  flushScheduled = false;
  const conns = [...queuedConnections];
  queuedConnections.clear();
  for (const conn of conns) conn.flush();
}

/**
 * Adapts a uWS socket to `TransportConnection`. Never touches the socket after close.
 *
 * Frames are not written when sent: they are queued on the connection and written once per
 * event-loop turn (`setImmediate`), all of a connection's frames in one corked write. Under load
 * a busy socket then costs one write per turn instead of one per frame (see docs/benchmarks.md);
 * at low rates a turn holds one frame and nothing changes but a sub-millisecond wait. Order is
 * kept: replies and deliveries share the queue. Live messages to a connection in steady state go
 * through uWS's topics instead (`LocalTopics`), which keeps them in order with this queue.
 */
export class WsConnection implements TransportConnection {
  closed = false;
  /** Replays waiting for the buffer to drain; null while none (most of the time). */
  private drainWaiters: (() => void)[] | null = null;
  private queued: string[] | null = null;
  private queuedBytes = 0;
  private ending = false;
  /** Conversation topics this socket is subscribed to (`LocalTopics`); null until the first. */
  topics: Set<string> | null = null;
  readonly connectionId = randomUUID();
  readonly userId: string;
  readonly device: string;
  readonly expiresAt: number;
  readonly identity: Identity;
  readonly openedAt = Date.now();

  constructor(
    readonly ws: WebSocket<SocketData>,
    upgrade: Upgrade,
    private readonly localTopics: LocalTopics,
  ) {
    this.userId = upgrade.identity.userId;
    this.device = upgrade.device;
    this.expiresAt = upgrade.identity.expiresAt;
    this.identity = upgrade.identity;
  }

  sendRaw(payload: string): void {
    if (this.closed) return;
    if (this.queued === null) {
      this.queued = [payload];
      queuedConnections.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushQueued);
      }
    } else {
      this.queued.push(payload);
    }
    this.queuedBytes += payload.length;
  }

  /** Frames wait in this turn's queue. */
  get hasQueued(): boolean {
    return this.queued !== null;
  }

  /** Neither closed nor closing. */
  get open(): boolean {
    return !this.closed && !this.ending;
  }

  /** Writes the queued frames in one corked write. */
  flush(): void {
    const frames = this.queued;
    if (frames === null) return;
    this.queued = null;
    this.queuedBytes = 0;
    queuedConnections.delete(this);
    if (this.closed) return;
    let status = 1;
    this.ws.cork(() => {
      for (const frame of frames) {
        status = this.ws.send(frame, false);
        if (status === 2) break;
      }
    });
    // The endpoint sets no uWS limit (its topic drain would drop silently past it; see
    // LocalTopics): the configured one is applied here. Past it (or 2, dropped, should a uWS
    // limit be set) a silent drop would break at-least-once, so the client is told to reconnect
    // and resume from its last position.
    const buffered = this.ws.getBufferedAmount();
    if (status === 2 || buffered > this.localTopics.maxBufferedBytes) {
      this.close(CloseCode.SlowConsumer, closeReason(CloseCode.SlowConsumer));
      return;
    }
    // A replay waiting on bytes that were only queued here gets no `drain` event from uWS if the
    // socket took them all at once: release it now.
    if (this.drainWaiters !== null && buffered < DRAIN_LOW_WATER_BYTES) this.onDrain();
  }

  sendRouted(routed: Routed): void {
    this.sendRaw(routed.frame);
  }

  sendFrame(frame: ServerFrame): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /** Bytes in uWS's buffer plus frames queued for this turn's write (UTF-16 units, near enough). */
  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount() + this.queuedBytes;
  }

  waitForDrain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters ??= [];
      this.drainWaiters.push(resolve);
    });
  }

  onDrain(): void {
    const waiters = this.drainWaiters;
    if (waiters === null) return;
    this.drainWaiters = null;
    for (const w of waiters) w();
  }

  close(code: number, reason: string): void {
    if (this.closed || this.ending) return;
    // What was sent before the close (a drain's last acks, an error frame) goes out before it.
    // The flush may itself close (slow consumer): then that close stands.
    this.flush();
    if (this.closed || this.ending) return;
    this.ending = true;
    // A closing socket gets nothing more by topic (and is no longer counted as a subscriber).
    this.localTopics.leaveAll(this);
    this.ws.cork(() => this.ws.end(code, reason));
  }

  /** A replay begins: live messages come through the hub again, to be held back. */
  leaveTopics(): void {
    this.localTopics.leaveAll(this);
  }

  markClosed(): void {
    this.closed = true;
    this.localTopics.closed(this);
    this.queued = null;
    this.queuedBytes = 0;
    queuedConnections.delete(this);
    this.onDrain();
  }
}
