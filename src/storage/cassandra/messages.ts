/**
 * Messages: storing them (with client-message dedup through the injected `DedupStrategy`),
 * each conversation's newest-id pointer, and history paging across the 10-day buckets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { snowflakeTime } from '../../util/snowflake.ts';
import { assertMessageId, normaliseHistoryQuery } from '../common.ts';
import type { AppendResult, HistoryQuery, StoredMessage } from '../types.ts';
import type { DedupStrategy, Reservation } from './dedup.ts';
import {
  bucketOfId,
  creationBucket,
  fromLong,
  idTimestamp,
  MESSAGE_COLUMNS,
  rowToMessage,
  toLong,
  walkBuckets,
} from './rows.ts';
import type { CqlSession } from './session.ts';

export class MessageStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    private readonly dedup: DedupStrategy,
    /** When a conversation was created: its messages cannot be in earlier buckets. */
    private readonly createdAtOf: (conversationId: string) => Promise<number>,
  ) {
    this.q = statements(db.ks);
  }

  async appendMessage(message: StoredMessage): Promise<AppendResult> {
    assertMessageId(message.messageId);
    if (message.clientMsgId !== null) {
      const held = await this.dedup.reserve(message, message.clientMsgId);
      if (held) return this.settleReserved(message, message.clientMsgId, held.reservation, held.waitMs);
    }
    await this.writeMessage(message);
    return { message: { ...message }, duplicate: false };
  }

  async putReplica(message: StoredMessage): Promise<void> {
    assertMessageId(message.messageId);
    // The dedup row is written only if this replica gets the reservation: a local reservation
    // for another id (a resend that reached this region before the replica did) is left alone;
    // both messages then exist, as they did.
    if (message.clientMsgId !== null) await this.dedup.reserve(message, message.clientMsgId);
    await this.writeMessage(message);
  }

  async getMessage(conversationId: string, messageId: bigint): Promise<StoredMessage | null> {
    const rs = await this.db.client.execute(this.q.selectOne, [
      conversationId,
      bucketOfId(messageId),
      toLong(messageId),
    ]);
    const row = rs.first();
    return row ? rowToMessage(row) : null;
  }

  async getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0 || before === 0n) return [];
    const newest = await this.lastMessageId(conversationId);
    if (newest === null) return [];

    if (after !== undefined) {
      if (newest <= after) return [];
      const first = bucketOfId(after + 1n);
      const last = bucketOfId(newest);
      return walkBuckets(
        first,
        last,
        +1,
        limit,
        (bucket, n) => this.db.client.execute(this.q.selectAfter, [conversationId, bucket, toLong(after), n]),
        rowToMessage,
      );
    }

    const upper = before === undefined ? newest : before - 1n < newest ? before - 1n : newest;
    const first = bucketOfId(upper);
    const last = creationBucket(await this.createdAtOf(conversationId));
    return walkBuckets(
      first,
      Math.min(last, first),
      -1,
      limit,
      (bucket, n) => this.db.client.execute(this.q.selectUpTo, [conversationId, bucket, toLong(upper), n]),
      rowToMessage,
    );
  }

  /** The conversation's newest message, or null when it has none. */
  async lastMessage(conversationId: string): Promise<StoredMessage | null> {
    const id = await this.lastMessageId(conversationId);
    if (id === null) return null;
    const message = await this.getMessage(conversationId, id);
    if (message) return message;
    // The pointer is written alongside the message; while that write is in flight fall back.
    const [newest] = await this.getHistory(conversationId, { before: id, limit: 1 });
    return newest ?? null;
  }

  /**
   * (sender, clientMsgId) is reserved for `reserved`: answer with that message if it is stored,
   * else store this attempt's message under the reserved id. With `waitMs`, the reservation's
   * holder may still be writing, so look for its message that long before writing it here.
   */
  private async settleReserved(
    message: StoredMessage,
    clientMsgId: string,
    reserved: Reservation,
    waitMs: number,
  ): Promise<AppendResult> {
    const { conversationId, messageId } = reserved;
    const original = await this.awaitMessage(conversationId, messageId, waitMs);
    if (original) {
      // The first attempt may have failed after the message but before the newest-id pointer;
      // its client is resending because it was not acked, so finish that write too.
      await this.writeLastMessageId(original);
      return { message: original, duplicate: true };
    }
    // The reservation exists but the message does not: its writer crashed (or is still writing).
    // Write it now under the reserved id, so whichever attempt the client saw acked, the message
    // is stored exactly once. Not a duplicate: the original was never stored, so never delivered.
    const healed: StoredMessage = {
      ...message,
      conversationId,
      messageId,
      createdAt: snowflakeTime(messageId),
    };
    await this.dedup.adopt(healed, clientMsgId);
    await this.writeMessage(healed);
    return { message: healed, duplicate: false };
  }

  /** The message, looked for again with growing pauses for up to `waitMs` while it is missing. */
  private async awaitMessage(
    conversationId: string,
    messageId: bigint,
    waitMs: number,
  ): Promise<StoredMessage | null> {
    const deadline = performance.now() + waitMs;
    let pause = 5;
    for (;;) {
      const found = await this.getMessage(conversationId, messageId);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, 100);
    }
  }

  /** Stores the message and advances the conversation's newest-id pointer; both before the ack. */
  private async writeMessage(m: StoredMessage): Promise<void> {
    await Promise.all([
      this.db.client.execute(this.q.insert, [
        m.conversationId,
        bucketOfId(m.messageId),
        toLong(m.messageId),
        m.senderId,
        m.clientMsgId,
        m.body,
        new Date(m.createdAt),
      ]),
      this.writeLastMessageId(m),
    ]);
  }

  private async writeLastMessageId(m: StoredMessage): Promise<void> {
    // Timestamp from the id (see idTimestamp): the pointer only ever moves to a larger id.
    await this.db.client.execute(this.q.updateLast, [toLong(m.messageId), m.conversationId], {
      timestamp: idTimestamp(m.messageId),
    });
  }

  private async lastMessageId(conversationId: string): Promise<bigint | null> {
    const rs = await this.db.client.execute(this.q.selectLast, [conversationId]);
    const row = rs.first();
    return row ? fromLong(row.get('message_id')) : null;
  }
}

function statements(ks: string) {
  return {
    insert: `INSERT INTO ${ks}.messages
           (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    selectOne: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages
       WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    /** One bucket, oldest first, after an id (`getHistory` with `after`). */
    selectAfter: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages
           WHERE conversation_id = ? AND bucket = ? AND message_id > ?
           ORDER BY message_id ASC LIMIT ?`,
    /** One bucket, newest first, up to an id (`getHistory` with `before` or none). */
    selectUpTo: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id <= ? LIMIT ?`,
    updateLast: `UPDATE ${ks}.conversation_last_message SET message_id = ? WHERE conversation_id = ?`,
    selectLast: `SELECT message_id FROM ${ks}.conversation_last_message WHERE conversation_id = ?`,
  } as const;
}
