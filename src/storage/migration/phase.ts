/**
 * The phases of moving a region's data to a new store, and where the current one is kept so
 * every gateway of the region sees it. The order follows the design's migration sequence:
 *
 *   old → dual-write → compare → read-new → new-only → done
 *
 * - `old`: the old store alone (the migration is configured but not started, or rolled back).
 * - `dual-write`: every write goes to the old store (authoritative, its answer is returned) and
 *   then to the new one; reads come from the old store. Backfill runs in this phase.
 * - `compare`: as `dual-write`, and every read is also made on the new store and compared;
 *   disagreements are counted and logged, the old store's answer is returned.
 * - `read-new`: the new store is authoritative (reads and the first write); writes still go to the
 *   old store too, so rolling back loses nothing.
 * - `new-only`: the new store alone. From here there is no way back: the old store misses writes.
 * - `done`: as `new-only`; the old store may be decommissioned and the config pointed at the new.
 *
 * The phase lives in a small record (`MigrationState`) in a `PhaseStore`: a Redis key of the
 * region when it has Redis (every gateway of a Cassandra region already reaches it, and a key is
 * read atomically), else a JSON file beside the embedded store (a single-node region: every
 * gateway is on the same machine). The old store itself is not used: it would need a table in
 * both store kinds only for this, and `done` decommissions it.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { createRedis, type RedisConnection } from '../../services/redis.ts';
import { quitRedis } from '../../util/close.ts';
import { type Logger, silentLogger } from '../../util/log.ts';

export const STORE_PHASES = ['old', 'dual-write', 'compare', 'read-new', 'new-only', 'done'] as const;
export type StorePhase = (typeof STORE_PHASES)[number];

/** Progress of a backfill, written by the command as it goes and shown on every gateway's /metrics. */
export interface BackfillProgress {
  /** Conversations copied and verified so far. */
  conversations: number;
  messages: number;
  /** Batches whose verification found a difference (each was repaired and verified again). */
  repairedBatches: number;
  /** Wall-clock ms when the backfill started and when it finished (null while running). */
  startedAt: number;
  finishedAt: number | null;
}

export interface MigrationState {
  phase: StorePhase;
  /** Milliseconds since the Unix epoch, when the phase was set. */
  changedAt: number;
  backfill: BackfillProgress | null;
  /**
   * The last backfill or reconciliation's outcome: going to `read-new` needs one finished after
   * dual-writing began with no difference remaining (the command checks it).
   */
  verified: { at: number; remaining: number } | null;
}

export const INITIAL_STATE: MigrationState = { phase: 'old', changedAt: 0, backfill: null, verified: null };

export function isStorePhase(value: unknown): value is StorePhase {
  return typeof value === 'string' && (STORE_PHASES as readonly string[]).includes(value);
}

/**
 * Whether a region may go from one phase to another: one step forward or back, and back to `old`
 * from any phase before `new-only` (rollback). `new-only` and `done` only go forward: the old
 * store no longer has every write.
 */
export function canTransition(from: StorePhase, to: StorePhase): boolean {
  if (from === to) return true;
  const i = STORE_PHASES.indexOf(from);
  const j = STORE_PHASES.indexOf(to);
  if (j === i + 1) return true;
  if (from === 'new-only' || from === 'done') return false;
  return j < i;
}

/** Which store answers reads in a phase. */
export function readsFrom(phase: StorePhase): 'old' | 'new' {
  return phase === 'old' || phase === 'dual-write' || phase === 'compare' ? 'old' : 'new';
}

/** Where the region's migration state is kept. */
export interface PhaseStore {
  /** The stored state, or `INITIAL_STATE` when none was ever written. */
  read(): Promise<MigrationState>;
  write(state: MigrationState): Promise<void>;
  close(): Promise<void>;
}

function parseState(text: string | null): MigrationState {
  if (text === null) return INITIAL_STATE;
  const v = JSON.parse(text) as Partial<MigrationState>;
  if (!isStorePhase(v.phase)) throw new Error(`store migration state: unknown phase ${String(v.phase)}`);
  return {
    phase: v.phase,
    changedAt: Number(v.changedAt ?? 0),
    backfill: v.backfill ?? null,
    verified: v.verified ?? null,
  };
}

/** A JSON file, replaced atomically (write then rename), for a single-node region. */
export class FilePhaseStore implements PhaseStore {
  constructor(private readonly path: string) {}

  async read(): Promise<MigrationState> {
    try {
      return parseState(await readFile(this.path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return INITIAL_STATE;
      throw err;
    }
  }

  async write(state: MigrationState): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
    await rename(tmp, this.path);
  }

  async close(): Promise<void> {}
}

/** One Redis key of the region, for a region of several gateways. */
export class RedisPhaseStore implements PhaseStore {
  private readonly redis: Redis;

  constructor(
    /** The region's `redis` block (credentials, TLS, Sentinel), or a bare URL. */
    target: string | RedisConnection,
    private readonly key: string,
    log: Logger = silentLogger,
  ) {
    const connection = typeof target === 'string' ? { url: target } : target;
    this.redis = createRedis(connection, { lazyConnect: true, maxRetriesPerRequest: 2 });
    // ioredis reconnects by itself; a failed read is reported by the watcher that made it.
    this.redis.on('error', (err: Error) =>
      log.debug({ err }, 'store migration phase: Redis connection error'),
    );
  }

  async read(): Promise<MigrationState> {
    return parseState(await this.redis.get(this.key));
  }

  async write(state: MigrationState): Promise<void> {
    await this.redis.set(this.key, JSON.stringify(state));
  }

  async close(): Promise<void> {
    await quitRedis(this.redis);
  }
}

/** The Redis key a region's migration state is kept under. */
export function phaseKey(region: string): string {
  return `chat:${region}:store-migration`;
}

/** Moves the stored phase, refusing a transition `canTransition` forbids. Resolves with the new state. */
export async function setPhase(store: PhaseStore, to: StorePhase, now = Date.now()): Promise<MigrationState> {
  const current = await store.read();
  if (!canTransition(current.phase, to)) {
    throw new Error(`store migration: cannot go from ${current.phase} to ${to}`);
  }
  if (current.phase === to) return current;
  // Back at `old` the new store stops getting writes: an earlier verification no longer holds.
  const next = { ...current, phase: to, changedAt: now, ...(to === 'old' ? { verified: null } : {}) };
  await store.write(next);
  return next;
}

export interface PhaseWatcherOptions {
  /** How often the stored state is read: every gateway follows a change within this. */
  pollMs: number;
  log?: Logger;
  /** Called after each change of phase seen. */
  onChange?: (state: MigrationState, previous: MigrationState) => void;
}

/**
 * Keeps a gateway's view of the phase: read once at `start()` (a gateway never serves with an
 * unknown phase), then polled. A failed read keeps the last phase (logged): a Redis blip must
 * not flip a gateway back to `old`.
 */
export class PhaseWatcher {
  private state: MigrationState = INITIAL_STATE;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;

  constructor(
    private readonly store: PhaseStore,
    private readonly opts: PhaseWatcherOptions,
  ) {
    this.log = opts.log ?? silentLogger;
  }

  get current(): MigrationState {
    return this.state;
  }

  get phase(): StorePhase {
    return this.state.phase;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.apply(await this.store.read());
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs);
    this.timer.unref();
  }

  /** Reads the stored state now (tests, and the command after it changed the phase). */
  async poll(): Promise<void> {
    try {
      this.apply(await this.store.read());
    } catch (err) {
      this.log.warn({ err }, 'store migration: reading the phase failed; keeping the last one');
    }
  }

  private apply(next: MigrationState): void {
    const previous = this.state;
    this.state = next;
    if (next.phase !== previous.phase) {
      this.log.info({ from: previous.phase, to: next.phase }, 'store migration phase changed');
      this.opts.onChange?.(next, previous);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.store.close();
  }
}
