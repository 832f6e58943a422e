/**
 * The gateway's local connection registry and its bridge to routing and presence: it knows which
 * users have sockets here, delivers payloads to them, and tells the router and presence when a
 * user's first connection opens or last one closes.
 */
import type { Presence } from '../presence/types.ts';
import type { Router } from '../routing/types.ts';
import { type ClientConnection, ConnectionState } from './connection.ts';
import type { GatewayMetrics } from './metrics.ts';

export class Hub {
  /** userId → its connections here; an array, as almost every user has one or two. */
  private readonly users = new Map<string, ConnectionState[]>();
  private readonly byConnection = new Map<string, ConnectionState>();

  constructor(
    readonly gatewayId: string,
    private readonly router: Router,
    private readonly presence: Presence,
    private readonly metrics: GatewayMetrics,
  ) {}

  get connectionCount(): number {
    return this.byConnection.size;
  }

  /** Registers a connection: routing interest first, then presence (see docs/architecture.md). */
  async add(conn: ClientConnection): Promise<ConnectionState> {
    const state = new ConnectionState(conn);
    let conns = this.users.get(conn.userId);
    if (!conns) {
      conns = [];
      this.users.set(conn.userId, conns);
      this.router.addUser(conn.userId);
    }
    conns.push(state);
    this.byConnection.set(conn.connectionId, state);
    this.metrics.connections.set(this.byConnection.size);
    this.metrics.connectionsOpened.inc();
    // The subscription must be in place at the transport before presence says "online", or a
    // sender could see the user online and publish before anyone listens (see queueForOffline).
    if (conns.length === 1) await this.router.ping();
    await this.presence.markOnline(conn.userId, {
      connectionId: conn.connectionId,
      gatewayId: this.gatewayId,
      device: conn.device,
    });
    return state;
  }

  async remove(conn: ClientConnection): Promise<void> {
    if (!this.byConnection.delete(conn.connectionId)) return;
    this.metrics.connections.set(this.byConnection.size);
    const conns = this.users.get(conn.userId);
    if (conns) {
      const at = conns.findIndex((s) => s.conn.connectionId === conn.connectionId);
      if (at >= 0) conns.splice(at, 1);
      if (conns.length === 0) {
        this.users.delete(conn.userId);
        this.router.removeUser(conn.userId);
      }
    }
    await this.presence.markOffline(conn.userId, conn.connectionId);
  }

  get(connectionId: string): ConnectionState | undefined {
    return this.byConnection.get(connectionId);
  }

  hasLocal(userId: string): boolean {
    return this.users.has(userId);
  }

  all(): IterableIterator<ConnectionState> {
    return this.byConnection.values();
  }

  /**
   * Delivers a payload to the user's local connections, except `exceptConnectionId`.
   * `messageId` lets a connection that is replaying its missed messages drop a live copy of one
   * it already replayed.
   */
  deliverLocal(userId: string, payload: string, messageId: string | null, exceptConnectionId?: string): void {
    this.recordDelivered(this.deliverTo(userId, payload, messageId, exceptConnectionId), payload);
  }

  /** Writes the payload to the user's local connections; returns how many it was written to. */
  private deliverTo(
    userId: string,
    payload: string,
    messageId: string | null,
    exceptConnectionId: string | undefined,
  ): number {
    const conns = this.users.get(userId);
    if (!conns) return 0;
    let written = 0;
    for (const state of conns) {
      if (state.conn.connectionId === exceptConnectionId || state.conn.closed) continue;
      if (state.syncing) {
        state.holdLive(messageId, payload);
        continue;
      }
      if (state.recentlyReplayed) {
        const id = messageId ?? liveMessageId(payload);
        if (id !== null && state.recentlyReplayed.has(id)) continue;
      }
      state.conn.sendRaw(payload);
      written++;
    }
    return written;
  }

  /**
   * Metrics for one payload written to `count` sockets: counted once per fan-out, not per
   * recipient (per-recipient prom-client calls were a measurable share of a large fan-out).
   */
  recordDelivered(count: number, payload: string): void {
    if (count === 0) return;
    this.metrics.framesOut.inc(count);
    const createdAt = messageCreatedAt(payload);
    if (createdAt !== null) this.metrics.liveDelivered(createdAt, count);
  }

  /** Delivers to local connections of every user, then hands the rest to the router. */
  async fanOut(
    userIds: readonly string[],
    payload: string,
    messageId: string | null,
    exceptConnectionId?: string,
  ) {
    let written = 0;
    for (const userId of userIds) written += this.deliverTo(userId, payload, messageId, exceptConnectionId);
    this.recordDelivered(written, payload);
    await this.router.publish(userIds, payload);
  }
}

const CREATED_AT = '"createdAt":';

/**
 * The `createdAt` of a serialized `message` frame, null for any other frame. Read from the end:
 * `createdAt` is the message's last field, and a body cannot contain the unescaped key.
 */
export function messageCreatedAt(payload: string): number | null {
  if (!payload.startsWith('{"op":"message"')) return null;
  const at = payload.lastIndexOf(CREATED_AT);
  if (at < 0) return null;
  const n = Number.parseInt(payload.slice(at + CREATED_AT.length, at + CREATED_AT.length + 20), 10);
  return Number.isFinite(n) ? n : null;
}

/** The id of a live `message` frame, read only when a replay needs to de-duplicate against it. */
export function liveMessageId(payload: string): string | null {
  if (!payload.startsWith('{"op":"message"')) return null;
  try {
    return (JSON.parse(payload) as { message?: { id?: string } }).message?.id ?? null;
  } catch {
    return null;
  }
}
