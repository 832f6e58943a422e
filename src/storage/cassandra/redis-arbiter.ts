/**
 * A dedup arbiter decides which of several concurrent attempts to store the same client message
 * (same sender, same clientMsgId) owns it, so `CassandraStorage` need not run a Paxos round
 * (lightweight transaction) per message. It only has to be right while attempts are in flight:
 * once an attempt has written its message row, later resends find that row through its
 * `client_msg_id` index. The strategy that uses it is `arbiterDedup` (`dedup-arbiter.ts`); see docs/architecture.md.
 */
import type { Redis } from 'ioredis';
import { connectRedis, createRedis, type RedisConnection } from '../../services/redis.ts';
import { quitRedis } from '../../util/close.ts';
import { type Logger, silentLogger } from '../../util/log.ts';

export interface DedupArbiter {
  /**
   * Atomically claims `key` for `value` unless it is already claimed. Resolves to null when this
   * call made the claim, else to the value already held (which may be `value` itself, when the
   * same attempt is retried). A claim lapses after `ttlMs`. Rejects when the arbiter cannot
   * answer; the claim may or may not have been made then.
   */
  claim(key: string, value: string, ttlMs: number): Promise<string | null>;
  /** Connects; idempotent. Optional: an arbiter with nothing to connect need not have it. */
  init?(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_DEDUP_KEY_PREFIX = 'dedup:';

/** Where Redis is and its credentials and TLS (the region's `redis` block), plus the arbiter's own. */
export type RedisDedupArbiterOptions = RedisConnection & {
  /** Prefix of every key, e.g. `chat:<region>:dedup:`, so several users can share a Redis. */
  keyPrefix?: string;
  /**
   * A claim that gets no answer within this many ms fails (the send is then answered
   * `unavailable` and resent; a claim that did land is then healed by the resend). Default 2000.
   */
  commandTimeoutMs?: number;
  /** Reconnection attempts a claim waits through before failing. Default 1. */
  maxRetriesPerRequest?: number;
  /** Logs connection errors (they also fail the claims they affect). Default: silent. */
  log?: Logger;
};

/**
 * `SET key value NX PX ttl GET` in one round trip: sets only if absent and returns the previous
 * value (nil when it set it). NX together with GET needs Redis 7.0 or later.
 */
export class RedisDedupArbiter implements DedupArbiter {
  readonly keyPrefix: string;
  private readonly connection: RedisConnection;
  private readonly redis: Redis;
  private connecting: Promise<void> | undefined;

  constructor(opts: RedisDedupArbiterOptions) {
    this.keyPrefix = opts.keyPrefix ?? DEFAULT_DEDUP_KEY_PREFIX;
    this.connection = opts;
    this.redis = createRedis(opts, {
      lazyConnect: true,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      maxRetriesPerRequest: opts.maxRetriesPerRequest ?? 1,
      // Claims made in the same event-loop turn (a burst of sends) go to Redis as one pipeline:
      // one round trip and one read/write syscall pair for the lot.
      enableAutoPipelining: true,
    });
    const log = opts.log ?? silentLogger;
    this.redis.on('error', (err: Error) => log.error({ err }, 'dedup arbiter redis error'));
  }

  async init(): Promise<void> {
    // A failed connect is not retried here: the caller gives up on this store (and closes it).
    this.connecting ??= connectRedis(this.redis, this.connection, 'dedup arbiter');
    await this.connecting;
  }

  async claim(key: string, value: string, ttlMs: number): Promise<string | null> {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive integer');
    return this.redis.set(this.keyPrefix + key, value, 'PX', ttlMs, 'NX', 'GET');
  }

  async close(): Promise<void> {
    await quitRedis(this.redis);
  }
}
