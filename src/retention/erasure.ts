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
import type { ErasureRecord, ErasureRequest, RemovalProgress } from '../storage/retention.ts';
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
  now?: () => number;
}

export class ErasureService {
  /** Requests running in this process, so a redelivered request joins the run instead of doubling it. */
  private readonly running = new Map<string, Promise<ErasureRecord>>();

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

  private async erase(req: ErasureRequest): Promise<ErasureRecord> {
    const now = this.d.now ?? Date.now;
    const store = this.d.storage.retention;
    let progress: RemovalProgress = { scanned: 0, removed: 0 };
    await store.putErasure(this.record(req, 'running', progress));
    const removed: StoredMessage[] = [];
    let lastWrite = now();
    let writing: Promise<void> = Promise.resolve();
    try {
      const report = await store.eraseUser(req.userId, {
        progress: (p) => {
          progress = p;
          if (now() - lastWrite < PROGRESS_WRITE_MS) return;
          lastWrite = now();
          writing = writing.then(() => store.putErasure(this.record(req, 'running', p))).catch(() => {});
        },
        removed: (m) => removed.push(m),
      });
      await writing;
      progress = { scanned: progress.scanned, removed: report.messageIds.length };
      await this.d.eraseStreams?.({
        messageIds: report.messageIds.map((id) => BigInt(id)),
        attachmentIds: report.attachmentIds,
      });
      await this.d.notify?.(removed.filter((m) => !m.change));
      const done: ErasureRecord = { ...this.record(req, 'done', progress), finishedAt: now(), report };
      await this.d.finished?.(done);
      await store.putErasure(done);
      await this.d.publish?.record(done);
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
