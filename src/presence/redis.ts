import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectRedis, createRedis, type RedisConnection } from '../services/redis.ts';
import { CLOSE_GRACE_MS, quitRedis } from '../util/close.ts';
import { settleWithin } from '../util/deadline.ts';
import { type Logger, silentLogger } from '../util/log.ts';
import { DEFAULT_PRESENCE_TTL_MS, DEFAULT_SWEEP_FRACTION } from './defaults.ts';
import { GatewayLostListeners, ListenerSet } from './listeners.ts';
import { LocateBatcher } from './locate-batch.ts';
import {
  GET_PRESENCE,
  HEARTBEAT,
  LOCATE,
  MARK_OFFLINE,
  MARK_ONLINE,
  SET_AWAY,
  SWEEP,
} from './redis-scripts.ts';
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

export const DEFAULT_PRESENCE_KEY_PREFIX = 'presence:';
/** Users handled per sweep script call: bounds how long one call holds Redis. */
export const DEFAULT_SWEEP_BATCH = 500;
/** Users per lookup script call; all chunks of one lookup go out in one pipeline. */
const LOOKUP_CHUNK = 500;

/** Where Redis is (`url` or `sentinel`) and its credentials and TLS (the region's `redis` block). */
export type RedisPresenceOptions = RedisConnection & {
  /** A connection is gone once its gateway has not heartbeated for this long. */
  ttlMs?: number;
  /** Prefix of every key and of the events channel; lets several deployments share a Redis. */
  keyPrefix?: string;
  /** How often expired gateways are swept (and offline events published). Default ttlMs / 5. */
  sweepIntervalMs?: number;
  /** Users handled per sweep script call. */
  sweepBatch?: number;
  /**
   * Where background failures (sweep, connection errors, malformed events) and errors thrown by
   * subscribers go: they cannot be returned to a caller. Default: background failures are not
   * logged, subscriber errors are rethrown asynchronously (an uncaught exception).
   */
  log?: Logger;
};

interface LocalConn {
  userId: string;
  gatewayId: string;
  device: string;
  away: boolean;
}

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

const SCRIPTS = {
  markOnline: new Script(MARK_ONLINE),
  markOffline: new Script(MARK_OFFLINE),
  setAway: new Script(SET_AWAY),
  heartbeat: new Script(HEARTBEAT),
  sweep: new Script(SWEEP),
  getPresence: new Script(GET_PRESENCE),
  locate: new Script(LOCATE),
} as const;

type ScriptArg = string | number;

const STATUSES: ReadonlySet<string> = new Set<PresenceStatus>(['online', 'away', 'offline']);

/**
 * Presence in a region's Redis (see `redis-scripts.ts` for the data layout). Each instance
 * remembers the connections it registered, so that if its gateway's liveness lapsed (an event
 * loop stall longer than the TTL) the next heartbeat puts them back.
 */
export class RedisPresence implements Presence {
  readonly ttlMs: number;
  readonly keyPrefix: string;
  readonly sweepIntervalMs: number;
  private readonly sweepBatch: number;
  private readonly log: Logger;
  private readonly connection: RedisConnection;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly listeners: ListenerSet;
  private readonly lostListeners: GatewayLostListeners;
  /** Per gateway id used by this instance: the incarnation its connections are registered under. */
  private readonly incarnations = new Map<string, string>();
  private readonly local = new Map<string, LocalConn>();
  /** Per gateway id: when (our clock) a call last began that found its incarnation alive. */
  private readonly lastAlive = new Map<string, number>();
  /** Routing lookups of one event-loop turn share a round trip. */
  readonly locates = new LocateBatcher((argLists) =>
    // One call (the usual batch) skips the pipeline object and its bookkeeping.
    argLists.length === 1
      ? this.run(SCRIPTS.locate, argLists[0]!).then((reply) => [reply])
      : this.runMany(SCRIPTS.locate, argLists),
  );
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(opts: RedisPresenceOptions) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    this.keyPrefix = opts.keyPrefix ?? DEFAULT_PRESENCE_KEY_PREFIX;
    this.sweepIntervalMs =
      opts.sweepIntervalMs ?? Math.max(1, Math.floor(this.ttlMs / DEFAULT_SWEEP_FRACTION));
    this.sweepBatch = opts.sweepBatch ?? DEFAULT_SWEEP_BATCH;
    this.log = opts.log ?? silentLogger;
    this.listeners = new ListenerSet(opts.log);
    this.lostListeners = new GatewayLostListeners(opts.log);
    if (!Number.isInteger(this.ttlMs) || this.ttlMs <= 0)
      throw new RangeError('ttlMs must be a positive integer');
    if (!(this.sweepIntervalMs > 0)) throw new RangeError('sweepIntervalMs must be > 0');
    if (!Number.isInteger(this.sweepBatch) || this.sweepBatch <= 0) {
      throw new RangeError('sweepBatch must be a positive integer');
    }
    this.connection = opts;
    this.redis = createRedis(opts, { lazyConnect: true });
    this.sub = createRedis(opts, { lazyConnect: true });
    this.redis.on('error', (err: Error) => this.log.error({ err }, 'redis connection error'));
    this.sub.on('error', (err: Error) => this.log.error({ err }, 'redis subscriber connection error'));
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.deliver(message);
      else if (channel === this.lostChannel) this.deliverLost(message);
    });
  }

  private get channel(): string {
    return `${this.keyPrefix}events`;
  }

  private get lostChannel(): string {
    return `${this.keyPrefix}gateways-lost`;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    await Promise.all([
      connectRedis(this.redis, this.connection, 'presence'),
      connectRedis(this.sub, this.connection, 'presence'),
    ]);
    await this.sub.subscribe(this.channel, this.lostChannel);
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.log.error({ err }, 'presence sweep failed'));
    }, this.sweepIntervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.lostListeners.clear();
    // A sweep stuck on an unreachable Redis ends when the clients are dropped below.
    if (this.sweeping)
      await settleWithin(
        this.sweeping.catch(() => undefined),
        CLOSE_GRACE_MS,
        undefined,
      );
    await Promise.all([quitRedis(this.redis), quitRedis(this.sub)]);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async markOnline(userId: string, conn: ConnectionRef): Promise<void> {
    const existing = this.local.get(conn.connectionId);
    this.local.set(conn.connectionId, {
      userId,
      gatewayId: conn.gatewayId,
      device: conn.device,
      away: existing?.userId === userId ? existing.away : false,
    });
    const startedAt = Date.now();
    const wasAlive = await this.run(SCRIPTS.markOnline, this.markOnlineArgs(userId, conn, ''));
    // Revived by this call while we hold other connections on it: its liveness had lapsed (or
    // Redis restarted empty) and registering this one made it look alive again, so the heartbeat
    // would not notice. Register the others again now.
    if (wasAlive !== 1) await this.lapsed(conn.gatewayId, conn.connectionId);
    this.lastAlive.set(conn.gatewayId, startedAt);
  }

  async markOffline(userId: string, connectionId: string): Promise<void> {
    if (this.local.get(connectionId)?.userId === userId) this.local.delete(connectionId);
    await this.run(SCRIPTS.markOffline, [userId, connectionId]);
  }

  async setAway(userId: string, connectionId: string, away: boolean): Promise<void> {
    const local = this.local.get(connectionId);
    if (local?.userId === userId) local.away = away;
    await this.run(SCRIPTS.setAway, [userId, connectionId, away ? 1 : 0]);
  }

  async heartbeat(gatewayId: string): Promise<void> {
    const startedAt = Date.now();
    const alive = await this.run(SCRIPTS.heartbeat, [gatewayId, this.incarnation(gatewayId)]);
    if (alive !== 1) await this.lapsed(gatewayId, null);
    this.lastAlive.set(gatewayId, startedAt);
  }

  /**
   * Our liveness for `gatewayId` had lapsed: a sweep may already have removed (and announced
   * offline) connections that are in fact still open here, and every lookup meanwhile saw them
   * gone, so no gateway routed anything to them. Register them again (idempotent), then tell our
   * own listeners, so the gateway resyncs them from the last time it was known alive.
   */
  private async lapsed(gatewayId: string, exceptConnectionId: string | null): Promise<void> {
    const mine = [...this.local].filter(
      ([connectionId, c]) => c.gatewayId === gatewayId && connectionId !== exceptConnectionId,
    );
    if (mine.length === 0) return;
    await this.runMany(
      SCRIPTS.markOnline,
      mine.map(([connectionId, c]) =>
        this.markOnlineArgs(c.userId, { connectionId, gatewayId, device: c.device }, c.away ? '1' : '0'),
      ),
    );
    const lastSeenAt = this.lastAlive.get(gatewayId);
    if (lastSeenAt !== undefined) this.lostListeners.emit({ gatewayId, lastSeenAt });
  }

  async getPresence(userIds: readonly string[]): Promise<Map<string, PresenceInfo>> {
    const unique = [...new Set(userIds)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) chunks.push(unique.slice(i, i + LOOKUP_CHUNK));
    const replies = await this.runMany(SCRIPTS.getPresence, chunks);
    const out = new Map<string, PresenceInfo>();
    for (const [c, chunk] of chunks.entries()) {
      const rows: unknown = replies[c];
      if (!Array.isArray(rows) || rows.length !== chunk.length) {
        throw new Error(`presence lookup: malformed reply for ${chunk.length} users`);
      }
      for (const [i, userId] of chunk.entries()) out.set(userId, parseRow(userId, rows[i]));
    }
    return out;
  }

  async onlineUsers(userIds: readonly string[]): Promise<Set<string>> {
    const presence = await this.getPresence(userIds);
    const out = new Set<string>();
    for (const [userId, info] of presence) if (info.status !== 'offline') out.add(userId);
    return out;
  }

  locate(userIds: readonly string[], fromGatewayId: string): Promise<Whereabouts> {
    return this.locates.locate(userIds, fromGatewayId);
  }

  subscribe(listener: PresenceListener): () => void {
    return this.listeners.add(listener);
  }

  subscribeGatewayLost(listener: GatewayLostListener): () => void {
    return this.lostListeners.add(listener);
  }

  /**
   * Removes the connections of gateways whose liveness expired and publishes the resulting
   * changes; atomic per call, so concurrent sweepers on other gateways never announce twice.
   * Runs every `sweepIntervalMs`; public for tests. Returns the number of connections removed.
   */
  sweep(): Promise<number> {
    // One sweep at a time per instance; a tick that finds one running joins it.
    this.sweeping ??= this.sweepAll().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const reply = await this.run(SCRIPTS.sweep, [this.sweepBatch]);
      if (!Array.isArray(reply)) throw new Error('presence sweep: malformed reply');
      total += Number(reply[0]);
      if (Number(reply[1]) !== 1) return total;
    }
  }

  private incarnation(gatewayId: string): string {
    let inc = this.incarnations.get(gatewayId);
    if (inc === undefined) {
      // Fresh per process: a gateway restarted under the same id must not revive the
      // connections its previous life left behind.
      inc = randomBytes(8).toString('hex');
      this.incarnations.set(gatewayId, inc);
    }
    return inc;
  }

  private markOnlineArgs(userId: string, conn: ConnectionRef, away: '' | '0' | '1'): ScriptArg[] {
    return [userId, conn.connectionId, conn.gatewayId, this.incarnation(conn.gatewayId), conn.device, away];
  }

  private deliver(message: string): void {
    let info: PresenceInfo;
    try {
      info = parseEvent(message);
    } catch (err) {
      this.log.warn({ err }, 'malformed presence event ignored');
      return;
    }
    this.listeners.emit(info);
  }

  private deliverLost(message: string): void {
    let event: GatewayLost;
    try {
      event = parseLost(message);
    } catch (err) {
      this.log.warn({ err }, 'malformed gateway-lost event ignored');
      return;
    }
    this.lostListeners.emit(event);
  }

  private async run(script: Script, args: readonly ScriptArg[]): Promise<unknown> {
    const full = [this.keyPrefix, this.ttlMs, ...args];
    try {
      return await this.redis.evalsha(script.sha, 0, ...full);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      // Redis restarted or its script cache was flushed: EVAL caches it again.
      return await this.redis.eval(script.lua, 0, ...full);
    }
  }

  /** Runs the script once per argument list, in one pipeline (one round trip). */
  private async runMany(script: Script, argLists: readonly (readonly ScriptArg[])[]): Promise<unknown[]> {
    if (argLists.length === 0) return [];
    const exec = async (useSha: boolean) => {
      const pipeline = this.redis.pipeline();
      for (const args of argLists) {
        const full = [this.keyPrefix, this.ttlMs, ...args];
        if (useSha) pipeline.evalsha(script.sha, 0, ...full);
        else pipeline.eval(script.lua, 0, ...full);
      }
      const results = await pipeline.exec();
      if (!results) throw new Error('presence: pipeline discarded');
      return results;
    };
    let results = await exec(true);
    if (results.some(([err]) => isNoScript(err))) results = await exec(false);
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }
}

function parseRow(userId: string, row: unknown): PresenceInfo {
  if (!Array.isArray(row) || row.length !== 4)
    throw new Error(`presence lookup: malformed row for ${userId}`);
  const [status, lastSeen, devices, gateways] = row as [unknown, unknown, unknown, unknown];
  if (typeof status !== 'string' || !STATUSES.has(status)) {
    throw new Error(`presence lookup: bad status for ${userId}`);
  }
  return {
    userId,
    status: status as PresenceStatus,
    lastSeen: Number(lastSeen) >= 0 ? Number(lastSeen) : null,
    devices: Number(devices),
    gateways: Array.isArray(gateways) ? gateways.map(String) : [],
  };
}

function parseEvent(message: string): PresenceInfo {
  const raw: unknown = JSON.parse(message);
  if (typeof raw !== 'object' || raw === null) throw new Error('presence event: not an object');
  const { u, s, l, d, g } = raw as Record<string, unknown>;
  if (typeof u !== 'string' || typeof s !== 'string' || !STATUSES.has(s)) {
    throw new Error('presence event: missing user or status');
  }
  return {
    userId: u,
    status: s as PresenceStatus,
    lastSeen: typeof l === 'number' && l >= 0 ? l : null,
    devices: typeof d === 'number' ? d : 0,
    // Lua's cjson encodes an empty table as {}, so an empty list arrives as an object.
    gateways: Array.isArray(g) ? g.map(String) : [],
  };
}

function parseLost(message: string): GatewayLost {
  const raw: unknown = JSON.parse(message);
  if (typeof raw !== 'object' || raw === null) throw new Error('gateway-lost event: not an object');
  const { g, l } = raw as Record<string, unknown>;
  if (typeof g !== 'string' || typeof l !== 'number' || !Number.isFinite(l)) {
    throw new Error('gateway-lost event: missing gateway or time');
  }
  return { gatewayId: g, lastSeenAt: l };
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
