/**
 * One user's move, driven by the old home (it holds the queue being moved and is authoritative
 * until cutover). Each phase is stored and replicated before it acts, so every region's
 * directory follows it and a mover started again resumes from the stored phase:
 *
 *   dual      both homes queue new entries; wait for the new home's reply, then `settleMs` so
 *             every gateway of both regions has refreshed its directory
 *   backfill  the old queue is sent to the new home in batches (`copy` events)
 *   verify    rounds: the new home answers an `ask` with its ids; entries only the old home has
 *             are copied, entries only the new one has that persist across two rounds (the first
 *             begun with this region's replication caught up: `caughtUp`) are removed
 *             there; ends at the first round that finds both equal (else the move fails)
 *   cutover   the new home is the home everywhere; both still queue for `graceMs`, so a write
 *             routed by a directory that had not refreshed yet lands in both
 *   cleanup   only the new home queues; last rounds copy what only the old home has, then the old
 *             copy is removed
 *   done
 *
 * Before cutover a failure (no reply in `replyTimeoutMs`, no clean round) ends the move `failed`:
 * the old home stays home and the new home drops its copy. After cutover the mover stops with
 * the error recorded and the phase kept; starting the move again resumes it, and so does the
 * region's worker 0 once the record has been quiet for `resumeAfterMs` (`HomeMoves`).
 */

import { toRecord } from '../storage/common.ts';
import type { HomeMove, MoveDifference, MovePhase, MoveReply, MoveReport } from '../storage/home-moves.ts';
import type { Storage, StoredMessage } from '../storage/types.ts';
import type { Logger } from '../util/log.ts';
import { snowflakeTime } from '../util/snowflake.ts';
import type { HomeMoveEvent } from './events.ts';
import type { HomeMoveMetrics } from './metrics.ts';

export interface MoveSettings {
  /** Offline-queue entries per `copy` event. */
  batchSize: number;
  /** Wait after a phase reply before relying on it: covers the directory refresh of every gateway. */
  settleMs: number;
  /** How long both homes keep queueing after cutover. */
  graceMs: number;
  /** Verification rounds at most, before cutover and at cleanup. */
  verifyRounds: number;
  roundDelayMs: number;
  /** How long to wait for the new home's reply before the move fails (or stops, after cutover). */
  replyTimeoutMs: number;
  /** How often the store is read for a reply. */
  pollMs: number;
}

export interface MoverDeps {
  /** The old home's own store (not the replicating one). */
  local: Storage;
  publish(ev: HomeMoveEvent): Promise<void>;
  /** Puts a record it stored into this gateway's directory (others read it within `refreshMs`). */
  refresh(move: HomeMove): Promise<void>;
  settings: MoveSettings;
  metrics: HomeMoveMetrics | null;
  log: Logger;
  /** True once the gateway stops: the move ends where it is (resumed by starting it again). */
  stopped(): boolean;
  /**
   * Whether this region (the old home) has applied everything the other regions published so
   * far. Absent: taken as true. See `verify`: an entry only the new home holds is removed only
   * when it was seen so in a round that began caught up.
   */
  caughtUp?(): Promise<boolean>;
}

/** Thrown when the gateway stops mid-move: nothing is recorded, the stored phase stands. */
class Stopped extends Error {}

const LISTED = 1000;

/** The phase after `phase` in a move that goes well. */
const NEXT: Partial<Record<MovePhase, MovePhase>> = {
  dual: 'backfill',
  backfill: 'verify',
  verify: 'cutover',
  cutover: 'cleanup',
  cleanup: 'done',
};

export class Mover {
  constructor(private readonly d: MoverDeps) {}

  /** Runs the move from its stored phase to `done` or `failed`; resolves with the last record. */
  async run(start: HomeMove): Promise<HomeMove> {
    let m = await this.save(start, {});
    while (m.phase !== 'done' && m.phase !== 'failed') {
      try {
        await this.act(m);
        m = await this.save(m, { phase: NEXT[m.phase]!, error: null });
      } catch (err) {
        if (err instanceof Stopped || this.d.stopped()) return m;
        const error = err instanceof Error ? err.message : String(err);
        const beforeCutover = m.phase === 'dual' || m.phase === 'backfill' || m.phase === 'verify';
        this.d.log.error(
          { err, userId: m.userId, moveId: m.moveId, phase: m.phase },
          'home move: phase failed',
        );
        m = await this.save(m, beforeCutover ? { phase: 'failed', error } : { error });
        if (!beforeCutover) return m;
      }
      const stored = await this.d.local.homeMoves.get(m.userId);
      // Someone else saved the move since (it took over a move that looked stalled): theirs now.
      if (stored && stored.moveId === m.moveId && !sameSave(stored, m)) return stored;
      m = stored ?? m;
    }
    return m;
  }

  private async act(m: HomeMove): Promise<void> {
    const s = this.d.settings;
    const sleep = (ms: number) => this.sleep(ms);
    switch (m.phase) {
      case 'dual':
        await this.reply(m, 'dual', 0);
        await sleep(s.settleMs);
        return;
      case 'backfill':
        await this.backfill(m);
        return;
      case 'verify': {
        const report = await this.verify(m);
        if (!report.clean) throw new Error(`verification found differences after ${report.rounds} rounds`);
        return;
      }
      case 'cutover':
        await this.reply(m, 'cutover', 0);
        await sleep(Math.max(s.graceMs, s.settleMs));
        return;
      case 'cleanup':
        await this.reply(m, 'cleanup', 0);
        await sleep(s.settleMs);
        await this.cleanup(m);
        return;
      default:
        return;
    }
  }

  /** Sends the old queue to the new home in batches, recording progress after each. */
  private async backfill(m: HomeMove): Promise<void> {
    let after: bigint | undefined;
    for (;;) {
      const page = await this.d.local.listOffline(m.userId, this.d.settings.batchSize, after);
      if (page.length === 0) return;
      await this.copy(m, page);
      after = page[page.length - 1]!.messageId;
      const progress = {
        ...m.progress,
        batches: m.progress.batches + 1,
        copied: m.progress.copied + page.length,
      };
      Object.assign(m, await this.save(m, { progress }));
    }
  }

  /** Verification rounds until both queues are equal, or `verifyRounds` ran; the report is stored. */
  private async verify(m: HomeMove): Promise<MoveReport> {
    const report: MoveReport = { ...emptyReport(), clean: false };
    const differed = new Set<string>();
    const persistent = new Set<string>();
    let lastMissing = new Set<string>();
    let lastExtra = new Set<string>();
    for (let i = 0; i < this.d.settings.verifyRounds; i++) {
      if (i > 0) await this.sleep(this.d.settings.roundDelayMs);
      // Asked before the compare: if caught up then, an entry minted before it that the new home
      // holds and this one does not is not still on its way here (a replicated message this home
      // has yet to apply and queue): only such a round's extras may later be removed.
      const replicated = this.d.caughtUp ? await this.d.caughtUp().catch(() => false) : true;
      const { round, mine, theirs, at } = await this.compare(m);
      report.rounds++;
      report.oldCount = mine.size;
      report.newCount = theirs.size;
      // Entries minted within `settleMs` of the answer may still be on their way to either home
      // (both queue them): they are compared by a later round, or at cleanup.
      const cutoff = at - this.d.settings.settleMs;
      const settled = (id: string): boolean => snowflakeTime(BigInt(id)) <= cutoff;
      const missing = [...mine.keys()].filter((id) => settled(id) && !theirs.has(id));
      const extra = [...theirs].filter((id) => settled(id) && !mine.has(id));
      const add = (id: string, kind: MoveDifference['kind'], seen: Set<string>): void => {
        differed.add(id);
        if (seen.has(id) && !persistent.has(id)) {
          persistent.add(id);
          report.differences.push({ messageId: id, kind, round });
          this.d.metrics?.differences.inc({ kind });
        }
      };
      for (const id of missing) add(id, 'missing', lastMissing);
      for (const id of extra) add(id, 'extra', lastExtra);
      report.transient = differed.size - persistent.size;
      if (missing.length === 0 && extra.length === 0) {
        report.clean = true;
        break;
      }
      // Copying is idempotent: an entry still travelling to the new home is harmless to send.
      if (missing.length > 0) {
        await this.copy(
          m,
          missing.map((id) => mine.get(id)!),
        );
        listAdd(report.copiedMissing, missing);
      }
      // The old home is authoritative: what only the new home holds, twice running (the first
      // time in a round that began caught up), goes.
      const remove = extra.filter((id) => lastExtra.has(id));
      if (remove.length > 0) {
        await this.d.publish({ t: 'ack', userId: m.userId, moveId: m.moveId, ids: remove, regions: [m.to] });
        listAdd(report.removedExtra, remove);
      }
      lastMissing = new Set(missing);
      lastExtra = replicated ? new Set(extra.filter((id) => !remove.includes(id))) : new Set();
      Object.assign(m, await this.save(m, { report: { ...report } }));
    }
    Object.assign(m, await this.save(m, { report }));
    return report;
  }

  /**
   * After the old home stopped queueing: copies what only it holds (entries a lagging event
   * queued there), until a round finds none, then removes its copy.
   */
  private async cleanup(m: HomeMove): Promise<void> {
    const report = m.report ?? emptyReport();
    for (let i = 0; ; i++) {
      if (i >= this.d.settings.verifyRounds) throw new Error('cleanup: the new home still lacks entries');
      if (i > 0) await this.sleep(this.d.settings.roundDelayMs);
      const { mine, theirs } = await this.compare(m);
      const missing = [...mine.keys()].filter((id) => !theirs.has(id));
      if (missing.length === 0) {
        const ids = [...mine.values()].map((e) => e.messageId);
        if (ids.length > 0) await this.d.local.ackOffline(m.userId, ids);
        const progress = { ...m.progress, cleaned: m.progress.cleaned + ids.length };
        Object.assign(m, await this.save(m, { progress, report }));
        return;
      }
      await this.copy(
        m,
        missing.map((id) => mine.get(id)!),
      );
      listAdd(report.copiedMissing, missing);
    }
  }

  /** One round: the new home's ids (asked now) and the old home's entries (read after its answer). */
  private async compare(
    m: HomeMove,
  ): Promise<{ round: number; mine: Map<string, StoredMessage>; theirs: Set<string>; at: number }> {
    const round = m.progress.rounds + 1;
    Object.assign(m, await this.save(m, { progress: { ...m.progress, rounds: round } }));
    await this.d.publish({ t: 'ask', userId: m.userId, moveId: m.moveId, to: m.to, round });
    const answer = await this.reply(m, 'verify', round);
    // Read after the answer arrived: the acks the new home mirrored before answering are applied.
    const mine = await queueOf(this.d.local, m.userId, this.d.settings.batchSize);
    return { round, mine, theirs: new Set(answer.ids ?? []), at: answer.at };
  }

  private async copy(m: HomeMove, entries: readonly StoredMessage[]): Promise<void> {
    const size = this.d.settings.batchSize;
    for (let i = 0; i < entries.length; i += size) {
      const batch = entries.slice(i, i + size);
      await this.d.publish({
        t: 'copy',
        userId: m.userId,
        moveId: m.moveId,
        to: m.to,
        messages: batch.map(toRecord),
      });
      this.d.metrics?.copied.inc(batch.length);
    }
  }

  /** Waits for the new home's reply to `phase` (round 0) or a verification round. */
  private async reply(m: HomeMove, phase: MovePhase, round: number): Promise<MoveReply> {
    const deadline = Date.now() + this.d.settings.replyTimeoutMs;
    for (;;) {
      const got = await this.d.local.homeMoves.getReply(m.userId, m.moveId, phase, round);
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`no reply from ${m.to} to ${phase} round ${round}`);
      await this.sleep(this.d.settings.pollMs);
    }
  }

  /** Waits, unless the gateway stops meanwhile. */
  private async sleep(ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      if (this.d.stopped()) throw new Stopped('gateway stopping');
      const left = until - Date.now();
      if (left <= 0) return;
      await sleep(Math.min(left, 100));
    }
  }

  /** Stores and replicates the record with `changes` (rev bumped), then refreshes the directory. */
  private async save(m: HomeMove, changes: Partial<HomeMove>): Promise<HomeMove> {
    const next: HomeMove = { ...m, ...changes, rev: m.rev + 1, updatedAt: Date.now() };
    const stands = await this.d.local.homeMoves.put(next);
    if (stands.moveId !== next.moveId) throw new Error(`move ${m.moveId} was replaced by ${stands.moveId}`);
    // Another driver saved since this one read the record (it took over a move that looked
    // stalled): this one ends where it is and leaves the move to it.
    if (!sameSave(stands, next)) throw new Stopped();
    await this.d.publish({ t: 'move', move: next });
    await this.d.refresh(next);
    return next;
  }
}

/** Whether two records of one move are the same save (a driver's own, not a later one's). */
function sameSave(a: HomeMove, b: HomeMove): boolean {
  return a.rev === b.rev && a.updatedAt === b.updatedAt;
}

/** Every entry of the user's queue in `storage`, by id. */
export async function queueOf(
  storage: Storage,
  userId: string,
  page: number,
): Promise<Map<string, StoredMessage>> {
  const out = new Map<string, StoredMessage>();
  let after: bigint | undefined;
  for (;;) {
    const batch = await storage.listOffline(userId, page, after);
    for (const e of batch) out.set(e.messageId.toString(), e);
    if (batch.length < page) return out;
    after = batch[batch.length - 1]!.messageId;
  }
}

function emptyReport(): MoveReport {
  return {
    rounds: 0,
    oldCount: 0,
    newCount: 0,
    transient: 0,
    differences: [],
    copiedMissing: [],
    removedExtra: [],
    clean: true,
  };
}

function listAdd(list: string[], ids: readonly string[]): void {
  for (const id of ids) if (list.length < LISTED) list.push(id);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
