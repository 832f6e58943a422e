/**
 * Group commit: the store's writes that arrive while earlier ones are on their way to Cassandra
 * go together as one unlogged batch, and each caller is answered when the batch that carries its
 * statements succeeded — at the session's consistency (LOCAL_QUORUM), so an answered write is as
 * durable as it was when written alone.
 *
 * Why: on a node that is CPU-bound, a batch of 16–64 single-row inserts costs Cassandra 2–3× less
 * CPU per row than the same rows as separate requests (`bench/micro/cassandra-rows.ts`,
 * docs/benchmarks.md). Why not more: an unlogged batch spanning many partitions makes its
 * coordinator forward each mutation to that partition's replicas, so on a large cluster the saving
 * shrinks; `maxStatements` and `maxBytes` keep a batch well under Cassandra's
 * `batch_size_fail_threshold` (50 KiB by default; docs/operations.md says which warnings to raise).
 *
 * Latency: nothing waits for a timer. A write made while fewer than `maxInFlight` batches are
 * outstanding leaves at the end of the current event-loop turn (with whatever else arrived in it);
 * only when `maxInFlight` batches are outstanding do writes accumulate, and they leave as soon as
 * one comes back. At low load this is the unbatched path plus one `setImmediate`.
 */
import type { Client } from 'cassandra-driver';

/** One prepared statement; `bytes` estimates its mutation's size (bodies dominate). */
export interface Write {
  query: string;
  params: unknown[];
  bytes: number;
}

export interface GroupCommitOptions {
  /** Batches outstanding at once before writes wait for one to finish. Default 4. */
  maxInFlight?: number;
  /** Statements per batch. Default 64. */
  maxStatements?: number;
  /** Estimated bytes per batch (one caller's writes always go whole). Default 32 KiB. */
  maxBytes?: number;
}

/** What the bench and metrics read: how well writes are grouped. */
export interface GroupCommitStats {
  batches: number;
  statements: number;
}

interface Pending {
  writes: readonly Write[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export const DEFAULT_GROUP_COMMIT: Required<GroupCommitOptions> = {
  maxInFlight: 4,
  maxStatements: 64,
  maxBytes: 32 * 1024,
};

export class GroupCommit {
  private readonly opts: Required<GroupCommitOptions>;
  private queue: Pending[] = [];
  private queuedStatements = 0;
  private inFlight = 0;
  private scheduled = false;
  readonly stats: GroupCommitStats = { batches: 0, statements: 0 };

  constructor(
    private readonly client: Client,
    options: GroupCommitOptions = {},
  ) {
    this.opts = { ...DEFAULT_GROUP_COMMIT, ...options };
    for (const [k, v] of Object.entries(this.opts)) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`groupCommit.${k} must be a positive integer`);
    }
  }

  /**
   * Writes `writes` in one batch (possibly with other callers' writes); resolves once the batch
   * succeeded, rejects with its error (then any of them may or may not have been applied).
   */
  write(writes: readonly Write[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const w of writes) bytes += w.bytes;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ writes, bytes, resolve, reject });
      this.queuedStatements += writes.length;
      if (this.inFlight >= this.opts.maxInFlight) return;
      if (this.queuedStatements >= this.opts.maxStatements) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Sends batches while there is room in flight and something queued. */
  private flush(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) this.send(this.take());
  }

  /** The longest prefix of the queue within the limits (always at least one caller). */
  private take(): Pending[] {
    let statements = 0;
    let bytes = 0;
    let n = 0;
    for (const p of this.queue) {
      if (
        n > 0 &&
        (statements + p.writes.length > this.opts.maxStatements || bytes + p.bytes > this.opts.maxBytes)
      )
        break;
      statements += p.writes.length;
      bytes += p.bytes;
      n++;
    }
    const taken = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    this.queuedStatements -= statements;
    return taken;
  }

  private send(group: Pending[]): void {
    const writes = group.flatMap((p) => p.writes);
    this.inFlight++;
    this.stats.batches++;
    this.stats.statements += writes.length;
    const done =
      writes.length === 1 && writes[0]
        ? this.client.execute(writes[0].query, writes[0].params, { prepare: true })
        : this.client.batch(
            writes.map((w) => ({ query: w.query, params: w.params })),
            { prepare: true, logged: false },
          );
    done.then(
      () => this.settle(group, null),
      (err: unknown) => this.settle(group, err),
    );
  }

  private settle(group: Pending[], err: unknown): void {
    this.inFlight--;
    for (const p of group) {
      if (err === null) p.resolve();
      else p.reject(err);
    }
    // Whatever queued while the batches were full has waited long enough: send it now.
    this.flush();
  }
}
