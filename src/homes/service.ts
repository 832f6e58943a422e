/**
 * Home-region moves in one gateway: the directory kept in step with the store's move records
 * (read every `refreshMs`, and at once when this gateway writes or applies one), the other
 * regions' move events applied here, and moves started by the server API driven here (`Mover`,
 * when this region is the user's home: it holds the queue that moves).
 */
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Directory } from '../config/directory.ts';
import { ChatError, ErrorCode } from '../errors.ts';
import { isUserId } from '../protocol/ids.ts';
import { fromRecord } from '../storage/common.ts';
import { type HomeMove, moveEnded, supersedesMove } from '../storage/home-moves.ts';
import type { Storage } from '../storage/types.ts';
import type { Logger } from '../util/log.ts';
import type { HomeMoveEvent } from './events.ts';
import { HomeMoveMetrics } from './metrics.ts';
import { Mover, type MoveSettings, queueOf } from './mover.ts';

export interface HomeMoveSettings extends MoveSettings {
  /** How often each gateway re-reads the records of moves not finished into its directory. */
  refreshMs: number;
  /** How often it re-reads every record instead. */
  fullRefreshMs: number;
  /** Moves this gateway drives at once; more requested wait their turn. */
  concurrency: number;
  /** A move quiet this long lost its driver; a resuming gateway takes it over. */
  resumeAfterMs: number;
}

export interface HomeMovesDeps {
  region: string;
  regions: readonly string[];
  directory: Directory;
  /** The region's own store (not the replicating one: what is applied here is not republished). */
  local: Storage;
  publish(ev: HomeMoveEvent): Promise<void>;
  settings: HomeMoveSettings;
  log: Logger;
  /** Whether this region has applied everything other regions published (`Mover`'s verify). */
  caughtUp?: () => Promise<boolean>;
  /**
   * Whether this gateway resumes the region's stalled moves (the region's worker 0: one per
   * region, so two gateways do not both take a move over).
   */
  resumes?: boolean;
}

export class HomeMoves {
  private timer: NodeJS.Timeout | null = null;
  private metrics: HomeMoveMetrics | null = null;
  /** Moves driven by this gateway, by user. */
  private readonly running = new Map<string, Promise<HomeMove>>();
  private active = 0;
  private stopping = false;
  private readonly waiting: (() => void)[] = [];
  /** Every record read so far, by user (metrics, and which moves were running at the last read). */
  private readonly known = new Map<string, HomeMove>();
  /** When every record was last read (0: never). */
  private lastFull = 0;

  constructor(private readonly d: HomeMovesDeps) {}

  bindMetrics(registry: Registry): void {
    this.metrics ??= new HomeMoveMetrics(registry);
  }

  /** Loads the move records into the directory, then keeps them fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.d.log.warn({ err }, 'home moves: refresh failed'));
    }, this.d.settings.refreshMs);
    this.timer.unref();
  }

  /** Stops refreshing; moves driven here end where they are (their stored phase stands). */
  stop(): void {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Reads the records into the directory: every `fullRefreshMs` all of them; in between only the
   * moves not finished (the store keeps them apart), and again each move that was running at the
   * last read and is not listed any more (it has just ended, or it was written by a version that
   * did not keep them apart), so a gateway sees a move's every phase within `refreshMs` without
   * reading a row per user ever moved.
   */
  async refresh(): Promise<void> {
    const store = this.d.local.homeMoves;
    const now = Date.now();
    let read: HomeMove[];
    if (this.lastFull === 0 || now - this.lastFull >= this.d.settings.fullRefreshMs) {
      read = await store.list();
      this.lastFull = now;
    } else {
      read = await store.listActive();
      const listed = new Set(read.map((m) => m.userId));
      const left = [...this.known.values()].filter((m) => !moveEnded(m.phase) && !listed.has(m.userId));
      for (const m of await Promise.all(left.map((m) => store.get(m.userId)))) if (m) read.push(m);
    }
    this.d.directory.setMoves(read);
    for (const m of read) if (supersedesMove(m, this.known.get(m.userId))) this.known.set(m.userId, m);
    const known = [...this.known.values()];
    this.metrics?.observe(known);
    if (this.d.resumes) this.resumeStalled(known);
  }

  /**
   * Takes over the region's moves whose driver is gone: from here, not finished, not driven by
   * this gateway, and quiet for `resumeAfterMs` (a live driver saves its record at least every
   * reply timeout plus grace). A move stopped after cutover with an error is retried this way too.
   * Should its old driver wake up after all, its next save finds a newer record and it ends.
   */
  private resumeStalled(moves: readonly HomeMove[]): void {
    if (this.stopping) return;
    const now = Date.now();
    for (const move of moves) {
      if (move.from !== this.d.region || moveEnded(move.phase)) continue;
      if (this.running.has(move.userId) || now - move.updatedAt < this.d.settings.resumeAfterMs) continue;
      this.d.log.warn(
        { userId: move.userId, moveId: move.moveId, phase: move.phase, quietMs: now - move.updatedAt },
        'home move: resuming a move whose driver is gone',
      );
      this.drive(move);
    }
  }

  list(): Promise<HomeMove[]> {
    return this.d.local.homeMoves.list();
  }

  get(userId: string): Promise<HomeMove | null> {
    return this.d.local.homeMoves.get(userId);
  }

  /**
   * Starts moving each user to `to` (or resumes a move of theirs stopped here); resolves with
   * their records as they stand, the moves running on in the background. A user must be homed in
   * this region, or be in a move from it.
   */
  async request(userIds: readonly string[], to: string): Promise<HomeMove[]> {
    if (!this.d.regions.includes(to)) {
      throw new ChatError(ErrorCode.InvalidField, `no region ${to}`, { field: 'to' });
    }
    const out: HomeMove[] = [];
    for (const userId of userIds) {
      if (!isUserId(userId)) throw new ChatError(ErrorCode.InvalidField, 'bad user id', { field: 'userIds' });
      out.push(await this.requestOne(userId, to));
    }
    return out;
  }

  private async requestOne(userId: string, to: string): Promise<HomeMove> {
    const existing = await this.d.local.homeMoves.get(userId);
    if (existing && existing.phase !== 'done' && existing.phase !== 'failed') {
      if (existing.to !== to || existing.from !== this.d.region) {
        throw new ChatError(
          ErrorCode.InvalidField,
          `${userId} is being moved from ${existing.from} to ${existing.to}; resume that move in ${existing.from}`,
          { field: 'userIds', userId, from: existing.from, to: existing.to },
        );
      }
      // Moved on recently and not by this gateway: another gateway of the region drives it.
      const recent =
        existing.error === null && Date.now() - existing.updatedAt < this.d.settings.replyTimeoutMs;
      if (!this.running.has(userId) && !recent) this.drive(existing);
      return existing;
    }
    const home = this.d.directory.homeOf(userId);
    if (home === to) {
      if (existing) return existing;
      throw new ChatError(ErrorCode.InvalidField, `${userId} is homed in ${to} already`, {
        field: 'to',
        userId,
      });
    }
    if (home !== this.d.region) {
      throw new ChatError(
        ErrorCode.InvalidField,
        `start the move of ${userId} in their home region ${home}`,
        {
          field: 'userIds',
          userId,
          home,
        },
      );
    }
    const now = Date.now();
    const move: HomeMove = {
      userId,
      moveId: `${now.toString(36)}-${randomBytes(4).toString('hex')}`,
      from: this.d.region,
      to,
      phase: 'dual',
      rev: 0,
      startedAt: now,
      updatedAt: now,
      progress: { batches: 0, copied: 0, rounds: 0, cleaned: 0 },
      report: null,
      error: null,
    };
    this.drive(move);
    return move;
  }

  /** Resolves once every move this gateway drives has stopped (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private drive(move: HomeMove): void {
    const run = this.turn(() =>
      new Mover({
        local: this.d.local,
        publish: (ev) => this.d.publish(ev),
        refresh: async (m) => this.d.directory.setMove(m),
        settings: this.d.settings,
        metrics: this.metrics,
        log: this.d.log,
        stopped: () => this.stopping,
        ...(this.d.caughtUp ? { caughtUp: this.d.caughtUp } : {}),
      }).run(move),
    );
    this.running.set(move.userId, run);
    run
      .then((m) => this.d.log.info({ userId: m.userId, moveId: m.moveId, phase: m.phase }, 'home move ended'))
      .catch((err: unknown) => this.d.log.error({ err, userId: move.userId }, 'home move stopped'))
      .finally(() => this.running.delete(move.userId));
  }

  /** Runs `task` when fewer than `concurrency` moves are running here. */
  private async turn<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.d.settings.concurrency) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.active++;
    this.metrics?.running.set(this.active);
    try {
      return await task();
    } finally {
      this.active--;
      this.metrics?.running.set(this.active);
      this.waiting.shift()?.();
    }
  }

  /** Applies another region's move event to this region (idempotent: events may come twice). */
  async apply(ev: HomeMoveEvent): Promise<void> {
    const here = this.d.region;
    const local = this.d.local;
    switch (ev.t) {
      case 'move': {
        const move = ev.move;
        const stands = await local.homeMoves.put(move);
        this.d.directory.setMove(stands);
        if (here !== move.to || stands.moveId !== move.moveId || stands.rev !== move.rev) return;
        if (move.phase === 'dual' || move.phase === 'cutover' || move.phase === 'cleanup') {
          await this.reply(move, move.phase, 0, null);
        } else if (move.phase === 'failed') {
          // The old home stays home: the copy made here goes.
          const ids = [...(await queueOf(local, move.userId, this.d.settings.batchSize)).values()];
          if (ids.length > 0)
            await local.ackOffline(
              move.userId,
              ids.map((e) => e.messageId),
            );
        }
        return;
      }
      case 'copy': {
        if (here !== ev.to) return;
        const move = await local.homeMoves.get(ev.userId);
        // A copy redelivered after its move failed or was replaced is not applied.
        if (!move || move.moveId !== ev.moveId || move.phase === 'failed') return;
        await local.enqueueOffline(ev.userId, ev.messages.map(fromRecord));
        return;
      }
      case 'ack':
        if (ev.regions.includes(here)) await local.ackOffline(ev.userId, ev.ids.map(BigInt));
        return;
      case 'ask': {
        if (here !== ev.to) return;
        const move = await local.homeMoves.get(ev.userId);
        if (!move || move.moveId !== ev.moveId) return;
        const ids = [...(await queueOf(local, ev.userId, this.d.settings.batchSize)).keys()];
        await this.reply(move, 'verify', ev.round, ids);
        return;
      }
      case 'reply':
        if (ev.reply.region !== here) await local.homeMoves.putReply(ev.reply);
        return;
    }
  }

  private reply(
    move: HomeMove,
    phase: HomeMove['phase'],
    round: number,
    ids: string[] | null,
  ): Promise<void> {
    return this.d.publish({
      t: 'reply',
      reply: {
        userId: move.userId,
        moveId: move.moveId,
        region: this.d.region,
        phase,
        round,
        at: Date.now(),
        ids,
      },
    });
  }
}
