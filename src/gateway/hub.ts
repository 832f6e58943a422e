/**
 * The gateway's local connection registry and its bridge to routing and presence: it knows which
 * users have sockets here, delivers payloads to them, and tells the router and presence when a
 * user's first connection opens or last one closes.
 */
import type { Presence, Whereabouts } from '../presence/types.ts';
import type { Routed, Router } from '../routing/types.ts';
import { type ClientConnection, ConnectionState } from './connection.ts';
import { topicOf } from './frames.ts';
import type { LocalTopics } from './local-topics.ts';
import type { GatewayMetrics } from './metrics.ts';
import { WsConnection } from './ws-connection.ts';

/**
 * Connections a topic fan-out counted as subscribers, the first `count` of them; reused, as
 * fan-outs never overlap, and never shortened (setting an array's length is a slow V8 path; it
 * showed as 1 % of the gateway's room profile). Stale entries past `count` keep at most one
 * fan-out's worth of connection objects alive a little longer.
 */
const viaTopic: ClientConnection[] = [];

export class Hub {
  /** userId → its connections here; an array, as almost every user has one or two. */
  private readonly users = new Map<string, ConnectionState[]>();
  private readonly byConnection = new Map<string, ConnectionState>();

  constructor(
    readonly gatewayId: string,
    private readonly router: Router,
    private readonly presence: Presence,
    private readonly metrics: GatewayMetrics,
    /** uWS topics for live messages to raw WebSocket connections; null: the JS path only. */
    private readonly topics: LocalTopics | null = null,
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
    }
    conns.push(state);
    this.byConnection.set(conn.connectionId, state);
    this.metrics.connections.set(this.byConnection.size);
    this.metrics.connectionsOpened.inc();
    // Registered here before presence says "online": a sender that finds the user on this
    // gateway publishes to it, and the router has listened for this gateway since start
    // (docs/architecture.md, "Why the connect order matters").
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
      if (conns.length === 0) this.users.delete(conn.userId);
    }
    await this.presence.markOffline(conn.userId, conn.connectionId);
  }

  /** Conversation topics with subscribers here (`LocalTopics`). */
  get topicsInUse(): number {
    return this.topics?.size ?? 0;
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

  /** A frame another gateway routed here for `userIds`: written to those of them held here. */
  deliverRouted(userIds: readonly string[], routed: Routed): void {
    let written = 0;
    for (const userId of userIds) written += this.deliverTo(userId, routed, undefined);
    this.recordDelivered(written, routed);
  }

  /** Writes the frame to the user's local connections; returns how many it was written to. */
  private deliverTo(userId: string, routed: Routed, exceptConnectionId: string | undefined): number {
    const conns = this.users.get(userId);
    if (!conns) return 0;
    let written = 0;
    for (const state of conns) {
      if (state.conn.connectionId === exceptConnectionId || state.conn.closed) continue;
      if (this.notLiveNow(state, routed)) continue;
      state.conn.sendRouted(routed);
      written++;
    }
    return written;
  }

  /**
   * True if `state` must not get `routed` now: it is replaying (the frame is held back until the
   * replay ends), or it just replayed this message.
   */
  private notLiveNow(state: ConnectionState, routed: Routed): boolean {
    if (state.syncing) {
      state.holdLive(routed);
      return true;
    }
    return (
      state.recentlyReplayed !== null &&
      routed.kind === 'message' &&
      state.recentlyReplayed.has(routed.messageId)
    );
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

  /**
   * Delivers to the local connections of every user, then publishes once to each other gateway
   * of the region holding some of them. `where` is their presence lookup when the caller already
   * made it after the frame's content became readable (a message: after it was stored, see
   * docs/architecture.md "Why the connect order matters"); without it the hub looks them up now.
   */
  async fanOut(
    userIds: readonly string[],
    routed: Routed,
    exceptConnectionId?: string,
    where?: Whereabouts,
  ): Promise<void> {
    const topics = this.topics;
    const topic = topics === null ? undefined : topicOf(routed);
    let written = 0;
    if (topics !== null && topic !== undefined) {
      written = this.deliverByTopic(topics, topic, userIds, routed, exceptConnectionId);
    } else for (const userId of userIds) written += this.deliverTo(userId, routed, exceptConnectionId);
    this.recordDelivered(written, routed);
    const located = where ?? (await this.locate(userIds));
    await this.publishTo(located, routed);
  }

  /** Where `userIds` are connected on other gateways (and other regions): one presence lookup. */
  locate(userIds: readonly string[]): Promise<Whereabouts> {
    return this.presence.locate(userIds, this.gatewayId);
  }

  /** One publish per gateway in `where`, in one synchronous pass (publish order is kept). */
  publishTo(where: Whereabouts, routed: Routed): Promise<void> {
    if (where.gateways.size === 0) return Promise.resolve();
    const sent: Promise<void>[] = [];
    for (const [gatewayId, users] of where.gateways) {
      sent.push(this.router.publish(gatewayId, users, routed));
    }
    this.metrics.routedPublishes.inc(sent.length);
    return Promise.all(sent).then(() => undefined);
  }

  /**
   * `deliverTo` for every user, except that connections in steady state get the frame from one
   * uWS publish to `topic` (see `LocalTopics`); returns how many connections it went to.
   */
  private deliverByTopic(
    topics: LocalTopics,
    topic: string,
    userIds: readonly string[],
    routed: Routed,
    exceptConnectionId: string | undefined,
  ): number {
    let written = 0;
    let sender: WsConnection | null = null;
    let count = 0;
    for (const userId of userIds) {
      const conns = this.users.get(userId);
      if (!conns) continue;
      // `prepare` may close a slow consumer, and uWS reports a close synchronously, which takes
      // it out of `conns`: iterate a copy when there is more than one.
      for (const state of conns.length === 1 ? conns : [...conns]) {
        const conn = state.conn;
        if (conn.closed) continue;
        if (conn.connectionId === exceptConnectionId) {
          // uWS leaves the publishing socket out: publish from the sender's if it is subscribed.
          if (conn instanceof WsConnection && topics.isSubscribed(conn, topic)) sender = conn;
          continue;
        }
        if (this.notLiveNow(state, routed)) continue;
        if (topics.prepare(state, topic)) {
          viaTopic[count++] = conn;
          continue;
        }
        if (conn.closed) continue;
        conn.sendRouted(routed);
        written++;
      }
    }
    if (!topics.publish(topic, routed.frame, count, sender)) {
      // Subscribers that are not recipients: the topic was dropped; the counted ones get it by JS.
      for (let i = 0; i < count; i++) viaTopic[i]!.sendRouted(routed);
    }
    return written + count;
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

  /** Tells the region's other gateways to drop their cached members (with roles and bans) of a conversation. */
  membersChanged(conversationId: string): Promise<void> {
    return this.router.publishControl({ type: 'members_changed', conversationId });
  }

  /** Tells the region's other gateways to drop their cached block list of `userId`. */
  blocksChanged(userId: string): Promise<void> {
    return this.router.publishControl({ type: 'blocks_changed', userId });
  }
}
