import type { StoredMessage } from './types.ts';

/**
 * Retention and erasure storage contract (`storage.retention`): per-conversation retention
 * periods, removing messages older than a period (the sweeper, `src/retention/sweeper.ts`), and
 * removing every message a user sent (erasure, `src/retention/erasure.ts`) with a report of what
 * went. Two implementations, each part of its `Storage`: Cassandra (`cassandra/retention.ts`) and
 * LMDB (`embedded-retention.ts`). Both pass `test/storage-retention.contract.ts`.
 *
 * "Removed" means the rows are gone, not a tombstone holding the body: the message row (and with
 * it its search terms), its copies in offline queues and the late index, its thread index rows,
 * its attachments (metadata and chunks), its dedup record, and the change records (edits,
 * deletes, reactions) that target it.
 */

/** What one removal took away: rows per table (the store's own table names), and which ids. */
export interface RemovalReport {
  /** Rows removed, by table; tables with none are absent. */
  tables: Record<string, number>;
  /** Message ids (decimal) removed, change records included. */
  messageIds: string[];
  /** Attachment ids removed. */
  attachmentIds: string[];
}

/** Progress of a long removal (an erasure scans every message of the store). */
export interface RemovalProgress {
  /** Rows looked at so far. */
  scanned: number;
  /** Messages removed so far. */
  removed: number;
}

/** An operator's request to erase a user's messages in every region. */
export interface ErasureRequest {
  requestId: string;
  userId: string;
  /** Milliseconds since the Unix epoch, at the origin. */
  requestedAt: number;
  /** The region the request was made in. */
  origin: string;
}

/** What `eraseUser` reports besides its result. */
export interface EraseOptions {
  /** Called now and then while it scans and removes. */
  progress?: (p: RemovalProgress) => void;
  /** Called with each message (change records included) before it is removed. */
  removed?: (m: StoredMessage) => void;
}

export type ErasureStatus = 'running' | 'done' | 'failed';

/** One region's record of an erasure request: what it removed, or how far it got. */
export interface ErasureRecord {
  requestId: string;
  userId: string;
  region: string;
  /** Milliseconds since the Unix epoch, when the request was made (at its origin). */
  requestedAt: number;
  /** When this region finished (done or failed); null while running. */
  finishedAt: number | null;
  status: ErasureStatus;
  progress: RemovalProgress;
  /** Null until done. */
  report: RemovalReport | null;
  /** Why it failed; null otherwise. */
  error: string | null;
}

export interface ConversationPage {
  conversationIds: string[];
  /** Where the next page starts (its `after`), or null at the end. */
  next: string | null;
}

export interface RetentionStore {
  /**
   * Sets a conversation's own retention period in seconds (0: keep forever, whatever the global
   * period); null clears it (the global period applies). Last writer by `at` (ms) wins, so
   * regions applying the same replicated settings in any order agree. The conversation must exist.
   */
  setConversationRetention(conversationId: string, seconds: number | null, at: number): Promise<void>;
  /** The conversation's own period (seconds), or null when it follows the global one. */
  getConversationRetention(conversationId: string): Promise<number | null>;
  /** Every conversation of the store, in pages (the sweeper's walk); `after` from the last page. */
  listConversations(after: string | null, limit: number): Promise<ConversationPage>;
  /**
   * Removes every message of the conversation created before `before` (ms) and everything
   * derived from it (see the file comment). Copies in offline queues are removed for the
   * conversation's current members. Idempotent.
   */
  expireConversation(conversationId: string, before: number): Promise<RemovalReport>;
  /**
   * Removes every message `userId` sent, in every conversation, and everything derived from it.
   * Found by scanning (a rare operator action, see the implementations); `progress` is called
   * now and then. Idempotent: a second run finds nothing more.
   */
  eraseUser(userId: string, opts?: EraseOptions): Promise<RemovalReport>;
  /** Stores (replacing) a region's record of an erasure request. */
  putErasure(record: ErasureRecord): Promise<void>;
  /** Every region's record of the request known here, sorted by region. */
  getErasures(requestId: string): Promise<ErasureRecord[]>;
  /**
   * Every erasure record of the store, by request then region: what a store migration copies
   * (they are few: one per request and region).
   */
  listErasures(): Promise<ErasureRecord[]>;
}

/**
 * Which of two records of the same request and region to keep: a finished one over a running
 * one, else the one further along (records replicate and may arrive out of order).
 */
export function newerErasure(a: ErasureRecord | null, b: ErasureRecord): ErasureRecord {
  if (!a) return b;
  if ((a.finishedAt === null) !== (b.finishedAt === null)) return a.finishedAt !== null ? a : b;
  if (a.finishedAt !== null && b.finishedAt !== null) return b.finishedAt >= a.finishedAt ? b : a;
  return b.progress.scanned >= a.progress.scanned ? b : a;
}

/** Accumulates a `RemovalReport`. */
export class ReportBuilder {
  private readonly tables: Record<string, number> = {};
  private readonly messageIds = new Set<string>();
  private readonly attachmentIds = new Set<string>();

  count(table: string, n = 1): void {
    if (n > 0) this.tables[table] = (this.tables[table] ?? 0) + n;
  }

  message(id: bigint): void {
    this.messageIds.add(id.toString());
  }

  attachment(id: string): void {
    this.attachmentIds.add(id);
  }

  get removed(): number {
    return this.messageIds.size;
  }

  build(): RemovalReport {
    const byId = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
    return {
      tables: { ...this.tables },
      messageIds: [...this.messageIds].sort(byId),
      attachmentIds: [...this.attachmentIds].sort(),
    };
  }
}

/** An empty report. */
export function emptyReport(): RemovalReport {
  return { tables: {}, messageIds: [], attachmentIds: [] };
}

/** Checks a retention period given in seconds (null allowed: follow the global period). */
export function assertRetentionSeconds(seconds: number | null): void {
  if (seconds === null) return;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 100 * 365 * 24 * 3600) {
    throw new RangeError(`retention must be a whole number of seconds in 0..100 years, got ${seconds}`);
  }
}
