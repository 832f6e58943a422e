/**
 * The gateway's local connection registry and its bridge to routing and presence: it knows which
 * users have sockets here, delivers payloads to them, and tells the router and presence when a
 * user's first connection opens or last one closes.
 */
import type { Presence } from '../presence/types.ts';
import type { Routed, Router } from '../routing/types.ts';
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
   * Delivers a routed frame to the user's local connections, except `exceptConnectionId`. A
   * connection that is replaying its missed messages drops a live copy of one it already replayed
   * (by the `messageId` beside the frame).
   */
  deliverLocal(userId: string, routed: Routed, exceptConnectionId?: string): void {
    this.recordDelivered(this.deliverTo(userId, routed, exceptConnectionId), routed);
  }

  /** Writes the frame to the user's local connections; returns how many it was written to. */
  private deliverTo(userId: string, routed: Routed, exceptConnectionId: string | undefined): number {
    const conns = this.users.get(userId);
    if (!conns) return 0;
    let written = 0;
    for (const state of conns) {
      if (state.conn.connectionId === exceptConnectionId || state.conn.closed) continue;
      if (state.syncing) {
        state.holdLive(routed);
        continue;
      }
      if (
        state.recentlyReplayed &&
        routed.kind === 'message' &&
        state.recentlyReplayed.has(routed.messageId)
      ) {
        continue;
      }
      state.conn.sendRouted(routed);
      written++;
    }
    return written;
  }

  /**
   * Metrics for one frame written to `count` sockets: counted once per fan-out, not per
   * recipient (per-recipient prom-client calls were a measurable share of a large fan-out).
   */
  recordDelivered(count: number, routed: Routed): void {
    if (count === 0) return;
    this.metrics.framesOut.inc(count);
    if (routed.kind === 'message') this.metrics.liveDelivered(routed.createdAt, count);
  }

  /** Delivers to local connections of every user, then hands the rest to the router. */
  async fanOut(userIds: readonly string[], routed: Routed, exceptConnectionId?: string): Promise<void> {
    let written = 0;
    for (const userId of userIds) written += this.deliverTo(userId, routed, exceptConnectionId);
    this.recordDelivered(written, routed);
    await this.router.publish(userIds, routed);
  }

  /**
   * Fans out a `conversation` event (created, members changed). The region's other gateways are
   * told first, on the router's control channel, to drop their cached members of it: a member
   * who sees the event and sends at once must find the change on whichever gateway they use.
   * The control event is handed to the transport before the frames, so it arrives first.
   */
  async conversationChanged(
    conversationId: string,
    audience: readonly string[],
    routed: Routed,
  ): Promise<void> {
    const control = this.router.publishControl({ type: 'members_changed', conversationId });
    const frames = this.fanOut(audience, routed);
    await Promise.all([control, frames]);
  }
}
