/**
 * Erasing a user's messages in every region, on an operator's request (server API
 * `POST /v1/erasures`, `scripts/erase.ts`). The origin hands the request to every other region
 * (replication event `er`) before it starts, so the request survives the origin's failure; each
 * region then erases its own copy (`RetentionStore.eraseUser`), records what it removed as an
 * `ErasureRecord`, and replicates that record (`ed`) so any region's API shows every region's.
 *
 * For each removed message it also erases the message's events from the replication streams (the
 * seam `eraseStreams`), and tells the conversation's connected members with an `update` frame
 * marking it deleted (`notify`). Clients that are not connected learn nothing: their cached copy
 * stays until they reload history, which no longer has it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ErasureRecord,
  type ErasureRequest,
  type RemovalProgress,
  type RemovalReport,
  ReportBuilder,
} from '../storage/retention.ts';
import type { Storage, StoredMessage } from '../storage/types.ts';
import type { Logger } from '../util/log.ts';

/** How often a running erasure rewrites its progress into its record. */
const PROGRESS_WRITE_MS = 2000;

/** The ids removed, for erasing them from the replication streams. */
export interface ErasedIds {
  messageIds: bigint[];
  attachmentIds: string[];
}

export interface ErasureDeps {
  /** The region's store (its `retention` part erases; records are written here). */
  storage: Storage;
  region: string;
  log: Logger;
  /** Replication, when there are other regions: hands requests and records to them. */
  publish?: {
    request(req: ErasureRequest): Promise<void>;
    record(record: ErasureRecord): Promise<void>;
  };
  /**
   * Erases the removed messages' and attachments' events from the replication streams (outbox,
   * inbox): replication's stream eraser where it has one (`retention/gateway.ts`).
   */
  eraseStreams?: (ids: ErasedIds) => Promise<void>;
  /** Tells connected members that these messages are gone. */
  notify?: (removed: StoredMessage[]) => Promise<void>;
  /**
   * Told of this region's finished erasure before its `done` record is written (the webhook
   * `user.erased`): a failure fails the run, which a replicated request retries.
   */
  finished?: (record: ErasureRecord) => Promise<void>;
  /**
   * Whether replication has applied everything other regions published so far, when there are
   * other regions; `inFlight` inbox events are being applied by the caller (a replicated request
   * is one). Asked as a run starts: if not, some of the user's older messages may still be on
   * their way here, and a follow-up pass erases them once it is.
   */
  caughtUp?: (inFlight: number) => Promise<boolean>;
  /** How often the follow-up asks `caughtUp`, and for how long at most (default 5 s, 7 days). */
  followUp?: { pollMs: number; maxMs: number };
  now?: () => number;
}

const FOLLOW_UP = { pollMs: 5000, maxMs: 7 * 24 * 3600 * 1000 };

export class ErasureService {
  /** Requests running in this process, so a redelivered request joins the run instead of doubling it. */
  private readonly running = new Map<string, Promise<ErasureRecord>>();
  /** Follow-up passes waiting for replication to catch up, by request. */
  private readonly following = new Map<string, Promise<void>>();
  /** Aborted by `stop`: ends the follow-ups' waits at once. */
  private readonly stopping = new AbortController();

  constructor(private readonly d: ErasureDeps) {}

  /**
   * Makes a request at this region: replicated first (so every region gets it even if this
   * process dies), then run here in the background. Resolves with the request; its records are
   * read with `records`. Made again with the same `requestId`, it changes nothing.
   */
  async request(userId: string, requestId: string = randomUUID()): Promise<ErasureRequest> {
    // A repeated request (same id: the API's Idempotency-Key) is answered with the first.
    const [earlier] = await this.d.storage.retention.getErasures(requestId);
    if (earlier) {
      return { requestId, userId: earlier.userId, requestedAt: earlier.requestedAt, origin: earlier.region };
    }
    const now = this.d.now ?? Date.now;
    const req: ErasureRequest = {
      requestId,
      userId,
      requestedAt: now(),
      origin: this.d.region,
    };
    await this.d.storage.retention.putErasure(this.record(req, 'running', { scanned: 0, removed: 0 }));
    await this.d.publish?.request(req);
    this.run(req).catch((err: unknown) =>
      this.d.log.error({ err, requestId: req.requestId }, 'erasure failed'),
    );
    return req;
  }

  /** Every region's record of a request known here. */
  records(requestId: string): Promise<ErasureRecord[]> {
    return this.d.storage.retention.getErasures(requestId);
  }

  /** Erases in this region (a request made here, or replicated from another region). */
  run(req: ErasureRequest): Promise<ErasureRecord> {
    let running = this.running.get(req.requestId);
    if (!running) {
      running = this.erase(req).finally(() => this.running.delete(req.requestId));
      this.running.set(req.requestId, running);
    }
    return running;
  }

  /**
   * Ends follow-up passes still waiting (the gateway stops): each notices within its poll and is
   * not resumed. A pass already scanning is not waited for (a scan can take minutes).
   */
  stop(): void {
    this.stopping.abort();
  }

  /** Resolves once the request's follow-up pass (if any) has ended (tests). */
  async followedUp(requestId: string): Promise<void> {
    await this.following.get(requestId);
  }

  private async erase(req: ErasureRequest): Promise<ErasureRecord> {
    const now = this.d.now ?? Date.now;
    const store = this.d.storage.retention;
    let progress: RemovalProgress = { scanned: 0, removed: 0 };
    await store.putErasure(this.record(req, 'running', progress));
    // Asked before the pass: what arrives after this answer is looked for by the follow-up.
    const inFlight = req.origin === this.d.region ? 0 : 1;
    const behind = this.d.caughtUp ? !(await this.d.caughtUp(inFlight).catch(() => false)) : false;
    let lastWrite = now();
    let writing: Promise<void> = Promise.resolve();
    try {
      const report = await this.pass(req, (p) => {
        progress = p;
        if (now() - lastWrite < PROGRESS_WRITE_MS) return;
        lastWrite = now();
        writing = writing.then(() => store.putErasure(this.record(req, 'running', p))).catch(() => {});
      });
      await writing;
      progress = { scanned: progress.scanned, removed: report.messageIds.length };
      const done: ErasureRecord = { ...this.record(req, 'done', progress), finishedAt: now(), report };
      await this.d.finished?.(done);
      await store.putErasure(done);
      await this.d.publish?.record(done);
      if (behind && !this.following.has(req.requestId)) {
        const follow = this.followUp(req, done).finally(() => this.following.delete(req.requestId));
        this.following.set(req.requestId, follow);
      }
      this.d.log.info(
        {
          requestId: req.requestId,
          userId: req.userId,
          removed: report.messageIds.length,
          tables: report.tables,
        },
        `erasure ${req.requestId}: removed ${report.messageIds.length} messages`,
      );
      return done;
    } catch (err) {
      await writing;
      const failed: ErasureRecord = {
        ...this.record(req, 'failed', progress),
        finishedAt: now(),
        error: err instanceof Error ? err.message : String(err),
      };
      // Recorded here and shown in every region; a replicated request is retried (and its later
      // `done` record, finishing later, replaces this one everywhere: `newerErasure`).
      await store.putErasure(failed).catch(() => {});
      await this.d.publish?.record(failed).catch(() => {});
      throw err;
    }
  }

  /** One scan: erases the user's messages, their stream events, and tells connected members. */
  private async pass(req: ErasureRequest, progress?: (p: RemovalProgress) => void): Promise<RemovalReport> {
    const removed: StoredMessage[] = [];
    const report = await this.d.storage.retention.eraseUser(req.userId, {
      ...(progress ? { progress } : {}),
      removed: (m) => removed.push(m),
    });
    await this.d.eraseStreams?.({
      messageIds: report.messageIds.map((id) => BigInt(id)),
      attachmentIds: report.attachmentIds,
    });
    await this.d.notify?.(removed.filter((m) => !m.change));
    return report;
  }

  /**
   * Replication was behind when the run started: messages the user sent before the request may
   * be applied here after it ran (each conversation's events keep their order, but not relative
   * to the request's). Once replication has caught up, one more pass erases them, and the
   * region's record is rewritten with both passes' report. A pass that fails is logged and the
   * record stands; so does one that waited `maxMs` (a region away that long: request again).
   */
  private async followUp(req: ErasureRequest, first: ErasureRecord): Promise<void> {
    const { pollMs, maxMs } = this.d.followUp ?? FOLLOW_UP;
    const now = this.d.now ?? Date.now;
    const until = now() + maxMs;
    while (!this.stopping.signal.aborted) {
      if (now() > until) {
        this.d.log.warn(
          { requestId: req.requestId },
          'erasure follow-up: replication never caught up; request again',
        );
        return;
      }
      const ready = await this.d.caughtUp!(0).catch(() => false);
      if (ready) break;
      // Ends at once when the service stops (`stop` aborts the signal).
      await sleep(pollMs, undefined, { signal: this.stopping.signal }).catch(() => {});
    }
    if (this.stopping.signal.aborted) return;
    try {
      const report = await this.pass(req);
      if (report.messageIds.length === 0 && report.attachmentIds.length === 0) return;
      const merged = mergeReports(first.report!, report);
      const record: ErasureRecord = {
        ...first,
        finishedAt: now(),
        progress: { scanned: first.progress.scanned, removed: merged.messageIds.length },
        report: merged,
      };
      await this.d.storage.retention.putErasure(record);
      await this.d.publish?.record(record);
      this.d.log.info(
        { requestId: req.requestId, userId: req.userId, removed: report.messageIds.length },
        `erasure ${req.requestId}: the follow-up pass removed ${report.messageIds.length} more messages`,
      );
    } catch (err) {
      this.d.log.error({ err, requestId: req.requestId }, 'erasure follow-up pass failed');
    }
  }

  private record(
    req: ErasureRequest,
    status: ErasureRecord['status'],
    progress: RemovalProgress,
  ): ErasureRecord {
    return {
      requestId: req.requestId,
      userId: req.userId,
      region: this.d.region,
      requestedAt: req.requestedAt,
      finishedAt: null,
      status,
      progress,
      report: null,
      error: null,
    };
  }
}

/** Two passes' reports as one (`ReportBuilder`: rows summed per table, ids merged in order). */
export function mergeReports(...reports: RemovalReport[]): RemovalReport {
  const merged = new ReportBuilder();
  for (const r of reports) {
    for (const [table, n] of Object.entries(r.tables)) merged.count(table, n);
    for (const id of r.messageIds) merged.message(BigInt(id));
    for (const id of r.attachmentIds) merged.attachment(id);
  }
  return merged.build();
}
