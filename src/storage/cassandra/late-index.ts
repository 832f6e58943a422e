/**
 * The late index (`Storage.recordLate` / `listLate`): `late_messages` partitioned by
 * (conversation, 10-day bucket of visible_at) and clustered by (visible_at, message_id)
 * ascending, with the message's columns copied in, so a replay reads a conversation's late
 * messages in order with no second read. Re-recording the same (message, visibleAt) rewrites
 * one row. No TTL (see schema.ts): resume positions may be weeks old.
 */
import type { types } from 'cassandra-driver';
import {
  assertMessageId,
  assertVisibleAt,
  attachmentsColumn,
  clampLimit,
  normaliseSince,
} from '../common.ts';
import { type LateMessage, MAX_HISTORY_LIMIT, type StoredMessage } from '../types.ts';
import {
  bucketOf,
  CHANGE_COLUMNS,
  CLOCK_SKEW_MARGIN_MS,
  changeParams,
  creationBucket,
  MESSAGE_COLUMNS,
  millis,
  rowToMessage,
  toLong,
  walkBuckets,
} from './rows.ts';
import type { CqlSession } from './session.ts';

export class LateIndex {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    /** When a conversation was created: nothing of it became visible in earlier buckets. */
    private readonly createdAtOf: (conversationId: string) => Promise<number>,
    private readonly now: () => number = Date.now,
  ) {
    this.q = statements(db.ks);
  }

  async recordLate(m: StoredMessage, visibleAt: number): Promise<void> {
    assertMessageId(m.messageId);
    assertVisibleAt(visibleAt);
    await this.db.client.execute(this.q.insert, [
      m.conversationId,
      bucketOf(visibleAt),
      new Date(visibleAt),
      toLong(m.messageId),
      m.senderId,
      m.clientMsgId,
      m.body,
      new Date(m.createdAt),
      ...changeParams(m),
      attachmentsColumn(m),
    ]);
  }

  /**
   * Walks the buckets from `sinceVisibleAt`'s (or the conversation's first, if later) to the one
   * of now plus the clock-skew margin: entries are stamped on gateways' clocks, which may run a
   * little ahead of this one. For a recent position that is one partition.
   */
  async listLate(conversationId: string, sinceVisibleAt: number, limit: number): Promise<LateMessage[]> {
    const n = clampLimit(limit, MAX_HISTORY_LIMIT);
    if (n === 0) return [];
    const since = normaliseSince(sinceVisibleAt);
    const last = bucketOf(this.now() + CLOCK_SKEW_MARGIN_MS);
    if (bucketOf(since) > last) return [];
    const first = Math.max(bucketOf(since), creationBucket(await this.createdAtOf(conversationId)));
    const from = new Date(since);
    return walkBuckets(
      first,
      last,
      +1,
      n,
      (bucket, k) => this.db.client.execute(this.q.selectSince, [conversationId, bucket, from, k]),
      rowToLate,
    );
  }
}

function rowToLate(row: types.Row): LateMessage {
  return { message: rowToMessage(row), visibleAt: millis(row, 'visible_at') };
}

function statements(ks: string) {
  return {
    insert: `INSERT INTO ${ks}.late_messages
           (conversation_id, bucket, visible_at, message_id, sender_id, client_msg_id, body, created_at,
            ${CHANGE_COLUMNS}, attachments)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    /** One bucket, ascending by (visible_at, message_id), from a time on. */
    selectSince: `SELECT ${MESSAGE_COLUMNS}, visible_at FROM ${ks}.late_messages
         WHERE conversation_id = ? AND bucket = ? AND visible_at >= ? LIMIT ?`,
  } as const;
}
