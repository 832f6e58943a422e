import type { Logger } from '../util/log.ts';
import { DEFAULT_PRESENCE_TTL_MS, DEFAULT_SWEEP_FRACTION } from './defaults.ts';
import { GatewayLostListeners, ListenerSet } from './listeners.ts';
import type {
  ConnectionRef,
  GatewayLost,
  GatewayLostListener,
  Presence,
  PresenceInfo,
  PresenceListener,
  PresenceStatus,
  Whereabouts,
} from './types.ts';

export interface MemoryPresenceOptions {
  /** A connection is gone once its gateway has not heartbeated for this long. */
  ttlMs?: number;
  /** How often expired gateways are swept (and offline events emitted). Default ttlMs / 5. */
  sweepIntervalMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Logs errors thrown by subscribers. Default: none, they are rethrown asynchronously (uncaught). */
  log?: Logger;
}

interface Conn {
  userId: string;
  gatewayId: string;
  device: string;
  away: boolean;
}

interface GatewayState {
  lastHeartbeat: number;
  conns: Set<string>;
}

interface UserState {
  /** The status last announced to subscribers. */
  announced: PresenceStatus;
  lastSeen: number | null;
  conns: Set<string>;
}

/**
 * In-process presence for a single node (`npm start`). Same contract as `RedisPresence`,
 * including TTL semantics: a connection is live while its gateway heartbeats, and a periodic
 * sweep removes the connections of gateways that stopped, emitting the resulting changes.
 */
export class MemoryPresence implements Presence {
  readonly ttlMs: number;
  readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private readonly conns = new Map<string, Conn>();
  private readonly gateways = new Map<string, GatewayState>();
  private readonly users = new Map<string, UserState>();
  private readonly listeners: ListenerSet;
  private readonly lostListeners: GatewayLostListeners;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: MemoryPresenceOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    this.sweepIntervalMs =
      opts.sweepIntervalMs ?? Math.max(1, Math.floor(this.ttlMs / DEFAULT_SWEEP_FRACTION));
    this.now = opts.now ?? Date.now;
    this.listeners = new ListenerSet(opts.log);
    this.lostListeners = new GatewayLostListeners(opts.log);
    if (!(this.ttlMs > 0)) throw new RangeError('ttlMs must be > 0');
    if (!(this.sweepIntervalMs > 0)) throw new RangeError('sweepIntervalMs must be > 0');
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.lostListeners.clear();
  }

  async ping(): Promise<void> {}

  async markOnline(userId: string, conn: ConnectionRef): Promise<void> {
    const now = this.now();
    const previous = this.conns.get(conn.connectionId);
    if (previous) this.detach(conn.connectionId, previous);
    // A gateway that registers a connection is alive right now.
    this.touchGateway(conn.gatewayId, now).conns.add(conn.connectionId);
    this.conns.set(conn.connectionId, {
      userId,
      gatewayId: conn.gatewayId,
      device: conn.device,
      away: previous?.userId === userId ? previous.away : false,
    });
    const user = this.user(userId);
    user.conns.add(conn.connectionId);
    user.lastSeen = now;
    if (previous && previous.userId !== userId) this.sync(previous.userId, now);
    this.sync(userId, now);
  }

  async markOffline(userId: string, connectionId: string): Promise<void> {
    const conn = this.conns.get(connectionId);
    if (!conn || conn.userId !== userId) return;
    const now = this.now();
    this.detach(connectionId, conn);
    this.user(userId).lastSeen = now;
    this.sync(userId, now);
  }

  async setAway(userId: string, connectionId: string, away: boolean): Promise<void> {
    const conn = this.conns.get(connectionId);
    if (!conn || conn.userId !== userId) return;
    const now = this.now();
    conn.away = away;
    this.user(userId).lastSeen = now;
    this.sync(userId, now);
  }

  async heartbeat(gatewayId: string): Promise<void> {
    this.touchGateway(gatewayId, this.now());
  }

  async getPresence(userIds: readonly string[]): Promise<Map<string, PresenceInfo>> {
    const now = this.now();
    const out = new Map<string, PresenceInfo>();
    for (const userId of userIds) out.set(userId, this.info(userId, now));
    return out;
  }

  async onlineUsers(userIds: readonly string[]): Promise<Set<string>> {
    const now = this.now();
    const out = new Set<string>();
    for (const userId of userIds) {
      if (this.info(userId, now).status !== 'offline') out.add(userId);
    }
    return out;
  }

  async locate(userIds: readonly string[], fromGatewayId: string): Promise<Whereabouts> {
    const now = this.now();
    const out: Whereabouts = { gateways: new Map(), elsewhere: new Set() };
    for (const userId of new Set(userIds)) {
      const user = this.users.get(userId);
      if (!user) continue;
      const seen = new Set<string>();
      for (const connectionId of user.conns) {
        const conn = this.conns.get(connectionId);
        if (!conn || conn.gatewayId === fromGatewayId || seen.has(conn.gatewayId)) continue;
        if (!this.isAlive(this.gateways.get(conn.gatewayId), now)) continue;
        seen.add(conn.gatewayId);
        out.elsewhere.add(userId);
        const users = out.gateways.get(conn.gatewayId);
        if (users) users.push(userId);
        else out.gateways.set(conn.gatewayId, [userId]);
      }
    }
    return out;
  }

  subscribe(listener: PresenceListener): () => void {
    return this.listeners.add(listener);
  }

  subscribeGatewayLost(listener: GatewayLostListener): () => void {
    return this.lostListeners.add(listener);
  }

  /**
   * Removes the connections of every gateway whose heartbeat is older than `ttlMs` and emits the
   * resulting status changes. Runs every `sweepIntervalMs`; public so tests with a fake clock can
   * drive it. Returns the number of connections removed.
   */
  sweep(): number {
    const now = this.now();
    let removed = 0;
    const touched = new Set<string>();
    const lost: GatewayLost[] = [];
    for (const [gatewayId, gw] of this.gateways) {
      if (this.isAlive(gw, now)) continue;
      if (gw.conns.size > 0) lost.push({ gatewayId, lastSeenAt: gw.lastHeartbeat });
      for (const connectionId of gw.conns) {
        const conn = this.conns.get(connectionId);
        if (!conn) continue;
        this.conns.delete(connectionId);
        const user = this.user(conn.userId);
        user.conns.delete(connectionId);
        // Last known alive: the gateway's last heartbeat.
        user.lastSeen = Math.max(user.lastSeen ?? 0, gw.lastHeartbeat);
        touched.add(conn.userId);
        removed++;
      }
      this.gateways.delete(gatewayId);
    }
    for (const userId of touched) this.sync(userId, now);
    for (const event of lost) this.lostListeners.emit(event);
    return removed;
  }

  private isAlive(gw: GatewayState | undefined, now: number): boolean {
    return gw !== undefined && now - gw.lastHeartbeat < this.ttlMs;
  }

  private touchGateway(gatewayId: string, now: number): GatewayState {
    let gw = this.gateways.get(gatewayId);
    if (!gw) {
      gw = { lastHeartbeat: now, conns: new Set() };
      this.gateways.set(gatewayId, gw);
    } else if (gw.conns.size > 0 && !this.isAlive(gw, now)) {
      // Its connections looked gone to every lookup since the lapse (nothing was routed to them)
      // and come back now: its own gateway resyncs them (see `Presence.subscribeGatewayLost`).
      this.lostListeners.emit({ gatewayId, lastSeenAt: gw.lastHeartbeat });
    }
    gw.lastHeartbeat = now;
    return gw;
  }

  private user(userId: string): UserState {
    let user = this.users.get(userId);
    if (!user) {
      user = { announced: 'offline', lastSeen: null, conns: new Set() };
      this.users.set(userId, user);
    }
    return user;
  }

  private detach(connectionId: string, conn: Conn): void {
    this.conns.delete(connectionId);
    this.gateways.get(conn.gatewayId)?.conns.delete(connectionId);
    this.users.get(conn.userId)?.conns.delete(connectionId);
  }

  /** Aggregated presence, counting only connections whose gateway is still alive. */
  private info(userId: string, now: number): PresenceInfo {
    const user = this.users.get(userId);
    if (!user) return { userId, status: 'offline', lastSeen: null, devices: 0, gateways: [] };
    let live = 0;
    let away = 0;
    let lastSeen = user.lastSeen;
    const gateways = new Set<string>();
    for (const connectionId of user.conns) {
      const conn = this.conns.get(connectionId);
      if (!conn) continue;
      const gw = this.gateways.get(conn.gatewayId);
      if (this.isAlive(gw, now)) {
        live++;
        if (conn.away) away++;
        gateways.add(conn.gatewayId);
      } else if (gw) {
        // Expired but not yet swept: it was last alive at its gateway's last heartbeat.
        lastSeen = Math.max(lastSeen ?? 0, gw.lastHeartbeat);
      }
    }
    const status: PresenceStatus = live === 0 ? 'offline' : away === live ? 'away' : 'online';
    return {
      userId,
      status,
      lastSeen: status === 'offline' ? lastSeen : now,
      devices: live,
      gateways: [...gateways].sort(),
    };
  }

  /** Announces the user's status if it differs from the last one announced. */
  private sync(userId: string, now: number): void {
    const user = this.user(userId);
    const info = this.info(userId, now);
    if (info.status === 'offline') user.lastSeen = info.lastSeen;
    if (info.status === user.announced) return;
    user.announced = info.status;
    this.listeners.emit(info);
  }
}
