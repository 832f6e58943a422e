/**
 * Retention and erasure on Cassandra (`storage.retention`, see `../retention.ts`). A
 * conversation's own period is a cell on its `conversations` row (migration 11), written at the
 * setting's time so the last setting wins in every region; erasure records are rows of
 * `erasure_reports` (one per request and region).
 *
 * Removal deletes rows outright. A message's row may hold cells written far in the future (a
 * delete's state cells, `stateTimestamp` in rows.ts), and so may its offline and late copies, so
 * the row deletes here use `REMOVE_TS`, above every such timestamp: a tombstone at a smaller one
 * would leave those cells standing. It also keeps a replica of the message that arrives later
 * (replication redelivering an old event) from bringing it back while the tombstone lives.
 *
 * Why no TTLs: a per-conversation period can change after messages were written (a TTL is fixed
 * at write), and a delete's state cells are rewritten long after the insert; every cell of a row
 * would need the same expiry or a half-expired row would remain. The sweeper removes whole rows
 * instead (docs/architecture.md, "Retention and erasure").
 */
import cassandra, { type types } from 'cassandra-driver';
import { snowflakeFloor } from '../../util/snowflake.ts';
import { chunkCount } from '../attachments.ts';
import { REACTION_KEY_SEP, unique } from '../common.ts';
import {
  assertRetentionSeconds,
  type ConversationPage,
  type EraseOptions,
  type ErasureRecord,
  type RemovalReport,
  ReportBuilder,
  type RetentionStore,
} from '../retention.ts';
import type { StoredMessage } from '../types.ts';
import {
  bucketOf,
  bucketOfId,
  CLOCK_SKEW_MARGIN_MS,
  creationBucket,
  fromLong,
  idTimestamp,
  MESSAGE_COLUMNS,
  millis,
  rowToMessage,
  text,
  toLong,
} from './rows.ts';
import type { CqlSession } from './session.ts';

const { types: cql } = cassandra;

/**
 * Write timestamp (µs) of removals: 2^62, above every timestamp the store writes (ids' times,
 * and a delete's state cells at most ~10^17) and below the signed 64-bit limit.
 */
export const REMOVE_TS = cql.Long.fromString((1n << 62n).toString());

/** Rows per page of a scan. */
const SCAN_PAGE = 500;
/** How often (rows scanned) an erasure reports progress. */
const PROGRESS_EVERY = 1000;

/** What the retention store needs from the rest of the Cassandra store. */
export interface RetentionDeps {
  createdAtOf(conversationId: string): Promise<number>;
  newestBucket(conversationId: string): Promise<number | null>;
  listMembers(conversationId: string): Promise<string[]>;
  conversationExists(conversationId: string): Promise<boolean>;
}

export class CassandraRetention implements RetentionStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    private readonly deps: RetentionDeps,
    private readonly now: () => number = Date.now,
  ) {
    this.q = statements(db.ks);
  }

  async setConversationRetention(conversationId: string, seconds: number | null, at: number): Promise<void> {
    assertRetentionSeconds(seconds);
    // Checked first: an UPDATE on a missing conversation would create its row, and its creation
    // (INSERT … IF NOT EXISTS) would then fail.
    if (!(await this.deps.conversationExists(conversationId))) {
      throw new RangeError(`conversation ${conversationId} is not stored here`);
    }
    await this.db.client.execute(this.q.setRetention, [seconds, conversationId], {
      timestamp: cql.Long.fromNumber(Math.floor(at) * 1000),
    });
  }

  async getConversationRetention(conversationId: string): Promise<number | null> {
    const rs = await this.db.client.execute(this.q.getRetention, [conversationId]);
    const v: unknown = rs.first()?.get('retention_seconds');
    return typeof v === 'number' ? v : null;
  }

  async listConversations(after: string | null, limit: number): Promise<ConversationPage> {
    const n = Math.max(1, Math.floor(limit));
    // In token order: the only order a whole-table walk can page in.
    const rs =
      after === null
        ? await this.db.client.execute(this.q.listFirst, [n + 1])
        : await this.db.client.execute(this.q.listAfter, [after, n + 1]);
    const ids = rs.rows.map((r) => text(r, 'conversation_id'));
    const page = ids.slice(0, n);
    return { conversationIds: page, next: ids.length > n ? (page[page.length - 1] ?? null) : null };
  }

  /**
   * Walks the conversation's buckets below `before`, from where the last expiry of it stopped
   * (`retention_swept_before`, so a sweep does not re-read years of emptied buckets), and its
   * late index up to now (a message may become visible late, long after it was created).
   */
  async expireConversation(conversationId: string, before: number): Promise<RemovalReport> {
    const report = new ReportBuilder();
    const [newest, createdAt, swept] = await Promise.all([
      this.deps.newestBucket(conversationId),
      this.deps.createdAtOf(conversationId),
      this.sweptBefore(conversationId),
    ]);
    // Everything created before `swept` went then; late copies were recorded by then too, give
    // or take clock skew.
    const first = Math.max(creationBucket(createdAt), bucketOf(Math.max(swept - CLOCK_SKEW_MARGIN_MS, 0)));
    const upper = toLong(snowflakeFloor(Math.max(before, 0)));
    if (newest !== null) {
      for (let bucket = first; bucket <= Math.min(bucketOf(before), newest); bucket++) {
        await this.scan(this.q.selectBelow, [conversationId, bucket, upper], async (row) => {
          const m = rowOrNull(row);
          if (m) await this.removeMessage(m, report);
        });
      }
    }
    // Offline copies, for the current members (the queue is partitioned by user).
    for (const userId of await this.deps.listMembers(conversationId)) {
      await this.scan(this.q.selectOfflineBelow, [userId, upper], async (row) => {
        if (row.get('conversation_id') !== conversationId) return;
        await this.deleteOffline(userId, row.get('message_id'), report);
      });
    }
    const lastLate = bucketOf(this.now() + CLOCK_SKEW_MARGIN_MS);
    for (let bucket = first; bucket <= lastLate; bucket++) {
      await this.scan(this.q.selectLateBucket, [conversationId, bucket], async (row) => {
        if (millis(row, 'created_at') >= before) return;
        await this.deleteLate(row, report);
      });
    }
    // At `before`'s own time: the largest bound swept wins, whatever order sweeps finish in.
    await this.db.client.execute(this.q.setSwept, [new Date(before), conversationId], {
      timestamp: cql.Long.fromNumber(Math.floor(before) * 1000),
    });
    return report.build();
  }

  /** Where the last expiry of the conversation stopped (ms), or 0. */
  private async sweptBefore(conversationId: string): Promise<number> {
    const rs = await this.db.client.execute(this.q.getSwept, [conversationId]);
    const v: unknown = rs.first()?.get('retention_swept_before');
    return v instanceof Date ? v.getTime() : 0;
  }

  /**
   * Finds the user's messages with a filtered scan of the whole `messages` table (ALLOW
   * FILTERING): an erasure is a rare operator action, and an index by sender would cost every
   * send a write. Then others' change records that target them (a walk of the conversations
   * touched), and copies in every offline queue and the late index (scans of those tables).
   */
  async eraseUser(userId: string, opts: EraseOptions = {}): Promise<RemovalReport> {
    const report = new ReportBuilder();
    let scanned = 0;
    const tell = () => opts.progress?.({ scanned, removed: report.removed });
    const mine: StoredMessage[] = [];
    await this.scan(this.q.selectBySender, [userId], async (row) => {
      if (++scanned % PROGRESS_EVERY === 0) tell();
      const m = rowOrNull(row);
      if (m) mine.push(m);
    });
    const erased = new Set(mine.map((m) => m.messageId.toString()));
    const targeting: StoredMessage[] = [];
    for (const conversationId of unique(mine.map((m) => m.conversationId))) {
      const newest = await this.deps.newestBucket(conversationId);
      if (newest === null) continue;
      const first = creationBucket(await this.deps.createdAtOf(conversationId));
      for (let bucket = first; bucket <= newest; bucket++) {
        await this.scan(this.q.selectBucket, [conversationId, bucket], async (row) => {
          scanned++;
          const m = rowOrNull(row);
          if (m?.change && m.senderId !== userId && erased.has(m.change.targetId.toString()))
            targeting.push(m);
        });
      }
    }
    const all = [...mine, ...targeting];
    const gone = new Set(all.map((m) => m.messageId.toString()));
    for (const m of all) {
      opts.removed?.(m);
      await this.removeMessage(m, report);
      if (report.removed % 100 === 0) tell();
    }
    // The user's reactions on messages that stay: their (emoji, user) registers.
    const at = cql.Long.fromNumber(this.now() * 1000);
    for (const m of mine) {
      const c = m.change;
      if (!c || (c.kind !== 'react' && c.kind !== 'unreact') || c.emoji === undefined) continue;
      if (gone.has(c.targetId.toString())) continue;
      await this.db.client.execute(
        this.q.deleteReaction,
        [
          `${c.emoji}${REACTION_KEY_SEP}${userId}`,
          m.conversationId,
          bucketOfId(c.targetId),
          toLong(c.targetId),
        ],
        // Now: above the register's own write (its change id's time), below any later reaction's.
        { timestamp: at },
      );
      report.count('reactions');
    }
    await this.scan(this.q.scanOffline, [], async (row) => {
      if (++scanned % PROGRESS_EVERY === 0) tell();
      if (gone.has(fromLong(row.get('message_id')).toString()))
        await this.deleteOffline(text(row, 'user_id'), row.get('message_id'), report);
    });
    await this.scan(this.q.scanLate, [], async (row) => {
      if (++scanned % PROGRESS_EVERY === 0) tell();
      if (gone.has(fromLong(row.get('message_id')).toString())) await this.deleteLate(row, report);
    });
    tell();
    return report.build();
  }

  async putErasure(record: ErasureRecord): Promise<void> {
    await this.db.client.execute(this.q.putErasure, [
      record.requestId,
      record.region,
      JSON.stringify(record),
    ]);
  }

  async getErasures(requestId: string): Promise<ErasureRecord[]> {
    const rows = await this.db.selectAll(this.q.getErasures, [requestId]);
    return rows.map((r) => JSON.parse(text(r, 'record')) as ErasureRecord);
  }

  async listErasures(): Promise<ErasureRecord[]> {
    // A whole-table scan: partitions come in token order, so sort as the contract says.
    const rows = await this.db.selectAll(this.q.listErasures, []);
    return rows
      .map((r) => JSON.parse(text(r, 'record')) as ErasureRecord)
      .sort((a, b) => {
        const [ka, kb] = [`${a.requestId}\u0000${a.region}`, `${b.requestId}\u0000${b.region}`];
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
  }

  /**
   * Removes a message row (its search terms are cells of it), its thread index rows, its dedup
   * record and its attachments. Offline and late copies are the callers' (found differently).
   */
  private async removeMessage(m: StoredMessage, report: ReportBuilder): Promise<void> {
    const conv = m.conversationId;
    const id = toLong(m.messageId);
    await this.db.client.execute(this.q.deleteMessage, [conv, bucketOfId(m.messageId), id], {
      timestamp: REMOVE_TS,
    });
    report.count('messages');
    report.message(m.messageId);
    // As a root: its thread index partition.
    const replies = await this.db.client.execute(this.q.countReplies, [conv, id]);
    const n = Number(fromLong(replies.first()?.get('n') ?? cql.Long.ZERO));
    if (n > 0) {
      await this.db.client.execute(this.q.deleteThread, [conv, id], { timestamp: REMOVE_TS });
      report.count('thread_replies', n);
    }
    // As a reply: its row in the root's index, and the root's summary recounted.
    if (m.threadRoot !== undefined && m.threadRoot !== null) {
      const root = toLong(m.threadRoot);
      const had = await this.db.client.execute(this.q.selectReply, [conv, root, id]);
      if (had.rowLength > 0) {
        await this.db.client.execute(this.q.deleteReply, [conv, root, id], { timestamp: REMOVE_TS });
        report.count('thread_replies');
        await this.recountThread(conv, m.threadRoot);
      }
    }
    if (m.clientMsgId !== null) {
      const rs = await this.db.client.execute(this.q.selectDedup, [m.senderId, m.clientMsgId]);
      const row = rs.first();
      if (row && fromLong(row.get('message_id')) === m.messageId) {
        await this.db.client.execute(this.q.deleteDedup, [m.senderId, m.clientMsgId]);
        report.count('message_dedup');
      }
    }
    for (const ref of m.attachments ?? []) {
      const meta = await this.db.client.execute(this.q.selectAttachment, [ref.id]);
      const row = meta.first();
      if (row) {
        await this.db.client.execute(this.q.deleteAttachment, [ref.id]);
        report.count('attachments');
        const chunks = chunkCount(Number(row.get('size')), Number(row.get('chunk_size')) || 1);
        await this.db.client.execute(this.q.deleteChunks, [ref.id]);
        report.count('attachment_chunks', chunks);
      }
      report.attachment(ref.id);
    }
  }

  /**
   * A root's summary after one of its replies was removed: written just above the timestamp of
   * the summary it replaces (that of its newest reply then), so it wins over it but not over the
   * summary a newer reply writes later.
   */
  private async recountThread(conversationId: string, rootId: bigint): Promise<void> {
    const root = await this.db.client.execute(this.q.selectRootSummary, [
      conversationId,
      bucketOfId(rootId),
      toLong(rootId),
    ]);
    const row = root.first();
    const last: unknown = row?.get('thread_last');
    // The root is gone, or never had a summary: nothing to write (an UPDATE would create a row).
    if (!row || row.get('sender_id') === null || last === null || last === undefined) return;
    const ts = cql.Long.fromString((BigInt(idTimestamp(fromLong(last)).toString()) + 1n).toString());
    const rs = await this.db.client.execute(this.q.summary, [conversationId, toLong(rootId)]);
    const count = Number(fromLong(rs.first()?.get('n') ?? cql.Long.ZERO));
    const newest: unknown = rs.first()?.get('last');
    const key = [conversationId, bucketOfId(rootId), toLong(rootId)];
    if (count > 0 && newest !== null && newest !== undefined) {
      await this.db.client.execute(this.q.writeSummary, [count, newest, ...key], { timestamp: ts });
    } else {
      await this.db.client.execute(this.q.clearSummary, key, { timestamp: ts });
    }
  }

  private async deleteOffline(userId: string, messageId: unknown, report: ReportBuilder): Promise<void> {
    await this.db.client.execute(this.q.deleteOffline, [userId, messageId], { timestamp: REMOVE_TS });
    report.count('offline_queue');
  }

  private async deleteLate(row: types.Row, report: ReportBuilder): Promise<void> {
    await this.db.client.execute(
      this.q.deleteLate,
      [row.get('conversation_id'), row.get('bucket'), row.get('visible_at'), row.get('message_id')],
      { timestamp: REMOVE_TS },
    );
    report.count('late_messages');
  }

  /** Runs `each` on every row of a (possibly whole-table) query, page by page. */
  private async scan(
    query: string,
    params: unknown[],
    each: (row: types.Row) => Promise<void>,
  ): Promise<void> {
    let pageState: string | undefined;
    do {
      const rs = await this.db.client.execute(query, params, {
        fetchSize: SCAN_PAGE,
        ...(pageState ? { pageState } : {}),
      });
      for (const row of rs.rows) await each(row);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
  }
}

/** A message row, or null for a row holding only cells written without the message (no sender). */
function rowOrNull(row: types.Row): StoredMessage | null {
  const sender: unknown = row.get('sender_id');
  return typeof sender === 'string' ? rowToMessage(row) : null;
}

function statements(ks: string) {
  return {
    setRetention: `UPDATE ${ks}.conversations SET retention_seconds = ? WHERE conversation_id = ?`,
    getSwept: `SELECT retention_swept_before FROM ${ks}.conversations WHERE conversation_id = ?`,
    setSwept: `UPDATE ${ks}.conversations SET retention_swept_before = ? WHERE conversation_id = ?`,
    getRetention: `SELECT retention_seconds FROM ${ks}.conversations WHERE conversation_id = ?`,
    listFirst: `SELECT conversation_id FROM ${ks}.conversations LIMIT ?`,
    listAfter: `SELECT conversation_id FROM ${ks}.conversations
         WHERE token(conversation_id) > token(?) LIMIT ?`,
    selectBelow: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id < ?`,
    selectBucket: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE conversation_id = ? AND bucket = ?`,
    selectBySender: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE sender_id = ? ALLOW FILTERING`,
    deleteReaction: `DELETE reactions[?] FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    deleteMessage: `DELETE FROM ${ks}.messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    countReplies: `SELECT COUNT(*) AS n FROM ${ks}.thread_replies WHERE conversation_id = ? AND root_id = ?`,
    deleteThread: `DELETE FROM ${ks}.thread_replies WHERE conversation_id = ? AND root_id = ?`,
    selectReply: `SELECT reply_id FROM ${ks}.thread_replies
         WHERE conversation_id = ? AND root_id = ? AND reply_id = ?`,
    deleteReply: `DELETE FROM ${ks}.thread_replies WHERE conversation_id = ? AND root_id = ? AND reply_id = ?`,
    summary: `SELECT COUNT(*) AS n, MAX(reply_id) AS last FROM ${ks}.thread_replies
         WHERE conversation_id = ? AND root_id = ?`,
    selectRootSummary: `SELECT sender_id, thread_last FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    writeSummary: `UPDATE ${ks}.messages SET thread_count = ?, thread_last = ?
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    clearSummary: `DELETE thread_count, thread_last FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    selectDedup: `SELECT message_id FROM ${ks}.message_dedup WHERE sender_id = ? AND client_msg_id = ?`,
    deleteDedup: `DELETE FROM ${ks}.message_dedup WHERE sender_id = ? AND client_msg_id = ?`,
    selectAttachment: `SELECT size, chunk_size FROM ${ks}.attachments WHERE attachment_id = ?`,
    deleteAttachment: `DELETE FROM ${ks}.attachments WHERE attachment_id = ?`,
    deleteChunks: `DELETE FROM ${ks}.attachment_chunks WHERE attachment_id = ?`,
    selectOfflineBelow: `SELECT message_id, conversation_id FROM ${ks}.offline_queue
         WHERE user_id = ? AND message_id < ?`,
    scanOffline: `SELECT user_id, message_id FROM ${ks}.offline_queue`,
    deleteOffline: `DELETE FROM ${ks}.offline_queue WHERE user_id = ? AND message_id = ?`,
    selectLateBucket: `SELECT conversation_id, bucket, visible_at, message_id, created_at FROM ${ks}.late_messages
         WHERE conversation_id = ? AND bucket = ?`,
    scanLate: `SELECT conversation_id, bucket, visible_at, message_id FROM ${ks}.late_messages`,
    deleteLate: `DELETE FROM ${ks}.late_messages
         WHERE conversation_id = ? AND bucket = ? AND visible_at = ? AND message_id = ?`,
    putErasure: `INSERT INTO ${ks}.erasure_reports (request_id, region, record) VALUES (?, ?, ?)`,
    getErasures: `SELECT record FROM ${ks}.erasure_reports WHERE request_id = ?`,
    listErasures: `SELECT record FROM ${ks}.erasure_reports`,
  } as const;
}
