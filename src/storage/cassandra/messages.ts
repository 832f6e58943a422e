/**
 * Messages: storing them (with client-message dedup through the injected `DedupStrategy`),
 * each conversation's newest-bucket pointer, and history paging across the 10-day buckets.
 *
 * Writes go through the store's `GroupCommit`, so concurrent sends share unlogged batches. The
 * pointer (`conversation_last_message`) names a message in the conversation's newest bucket; it
 * bounds history walks, so it must never be behind a stored message's bucket, but it need not
 * name the newest message. It is therefore written only when a message lands in a bucket this
 * process has not seen the pointer reach — about once per conversation per 10 days — instead of
 * with every message (one row per message instead of two).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { snowflakeTime } from '../../util/snowflake.ts';
import {
  assertMessageId,
  attachmentsColumn,
  MAX_MESSAGE_ID,
  messagesOnly,
  normaliseHistoryQuery,
} from '../common.ts';
import type { AppendOptions, AppendResult, HistoryQuery, StoredMessage } from '../types.ts';
import type { DedupStrategy, FindStored, Reservation } from './dedup.ts';
import type { GroupCommit, Write } from './group-commit.ts';
import {
  bucketOf,
  bucketOfId,
  CHANGE_COLUMNS,
  changeParams,
  creationBucket,
  fromLong,
  idTimestamp,
  insertTimestamp,
  MESSAGE_ROW_COLUMNS,
  messageRowBytes,
  rowToMessage,
  toLong,
  walkBuckets,
} from './rows.ts';
import { DEDUP_TTL_SECONDS } from './schema.ts';
import { termsOf } from './search.ts';
import type { CqlSession } from './session.ts';

/**
 * Conversations whose pointer bucket this process remembers. A forgotten one costs one pointer
 * write with its next message (idempotent), so the bound only trades memory for rare writes.
 */
const POINTER_CACHE_SIZE = 100_000;

export class MessageStore {
  private readonly q: ReturnType<typeof statements>;
  /** conversationId → a bucket the durable pointer is known to be at or past. */
  private readonly pointerAtLeast = new Map<string, number>();

  /** Client-message dedup, built on this store's index lookup (`findByClientMsgId`). */
  readonly dedup: DedupStrategy;

  constructor(
    private readonly db: CqlSession,
    private readonly writes: GroupCommit,
    dedup: (findStored: FindStored) => DedupStrategy,
    /** When a conversation was created: its messages cannot be in earlier buckets. */
    private readonly createdAtOf: (conversationId: string) => Promise<number>,
  ) {
    this.q = statements(db.ks);
    this.dedup = dedup((message, clientMsgId) => this.findByClientMsgId(message, clientMsgId));
  }

  async appendMessage(message: StoredMessage, opts: AppendOptions = {}): Promise<AppendResult> {
    assertMessageId(message.messageId);
    if (message.clientMsgId !== null) {
      const held = await this.dedup.reserve(message, message.clientMsgId, opts.firstAttempt === true);
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
    if (message.clientMsgId !== null) await this.dedup.reserveReplica(message, message.clientMsgId);
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

  getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    return messagesOnly(query, (q) => this.historyPage(conversationId, q));
  }

  /** One raw page, change records included. */
  private async historyPage(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0 || before === 0n) return [];
    const newestBucket = await this.newestBucket(conversationId);
    if (newestBucket === null) return [];

    if (after !== undefined) {
      const first = bucketOfId(after + 1n);
      const last = newestBucket;
      if (first > last) return [];
      return walkBuckets(
        first,
        last,
        +1,
        limit,
        (bucket, n) => this.db.client.execute(this.q.selectAfter, [conversationId, bucket, toLong(after), n]),
        rowToMessage,
      );
    }

    const upper = before === undefined ? MAX_MESSAGE_ID : before - 1n;
    const first = Math.min(bucketOfId(upper), newestBucket);
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
    const [newest] = await this.getHistory(conversationId, { limit: 1 });
    return newest ?? null;
  }

  /**
   * The message a client message was stored as in this conversation, looked up through the
   * `client_msg_id` index in the buckets a resend of it can be in: from the resend's own id back
   * over the dedup window (`DEDUP_TTL_SECONDS`, the time a client may keep resending).
   */
  async findByClientMsgId(message: StoredMessage, clientMsgId: string): Promise<Reservation | null> {
    const { conversationId, senderId } = message;
    const newest = bucketOfId(message.messageId);
    const oldest = Math.max(
      creationBucket(await this.createdAtOf(conversationId)),
      bucketOf(snowflakeTime(message.messageId) - DEDUP_TTL_SECONDS * 1000),
    );
    for (let bucket = newest; bucket >= oldest; bucket--) {
      const rs = await this.db.client.execute(this.q.selectByClientMsgId, [
        conversationId,
        bucket,
        clientMsgId,
      ]);
      for (const row of rs.rows) {
        if (row.get('sender_id') === senderId) {
          return { conversationId, messageId: fromLong(row.get('message_id')) };
        }
      }
    }
    return null;
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
      // The first attempt may have failed after the message but before the pointer; its client
      // is resending because it was not acked, so finish that write too.
      await this.writes.write([this.pointerWrite(original)]);
      this.notePointer(original);
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

  /**
   * Stores the message and, when its bucket is past the one the pointer is known to be at, the
   * pointer too — in one group-committed batch, both before the ack.
   */
  private async writeMessage(m: StoredMessage): Promise<void> {
    const bucket = bucketOfId(m.messageId);
    const row: Write = {
      query: this.q.insert,
      params: [
        m.conversationId,
        bucket,
        toLong(m.messageId),
        m.senderId,
        m.clientMsgId,
        m.body,
        new Date(m.createdAt),
        termsOf(m.body),
        ...changeParams(m),
        attachmentsColumn(m),
        // From the id, not the clock, and below any change's: an edit's or delete's cells
        // (stateTimestamp) always win over a replica or resend of the message written afterwards.
        insertTimestamp(m.messageId),
      ],
      // The terms cell holds at most the body's characters again.
      bytes: messageRowBytes(m) + 3 * m.body.length,
    };
    const known = this.pointerAtLeast.get(m.conversationId);
    if (known !== undefined && known >= bucket) {
      await this.writes.write([row]);
      return;
    }
    await this.writes.write([row, this.pointerWrite(m)]);
    this.notePointer(m);
  }

  /** Timestamp from the id (see idTimestamp): the pointer only ever moves to a larger id. */
  private pointerWrite(m: StoredMessage): Write {
    return {
      query: this.q.updateLast,
      params: [idTimestamp(m.messageId), toLong(m.messageId), m.conversationId],
      bytes: 64 + m.conversationId.length,
    };
  }

  /** Remembers that the pointer is durable at or past `m`'s bucket. */
  private notePointer(m: StoredMessage): void {
    const bucket = bucketOfId(m.messageId);
    const known = this.pointerAtLeast.get(m.conversationId);
    if (known !== undefined && known >= bucket) return;
    this.pointerAtLeast.delete(m.conversationId);
    if (this.pointerAtLeast.size >= POINTER_CACHE_SIZE) {
      const oldest = this.pointerAtLeast.keys().next();
      if (!oldest.done) this.pointerAtLeast.delete(oldest.value);
    }
    this.pointerAtLeast.set(m.conversationId, bucket);
  }

  /** The bucket of the message the pointer names (the newest bucket with messages), or null. */
  async newestBucket(conversationId: string): Promise<number | null> {
    const rs = await this.db.client.execute(this.q.selectLast, [conversationId]);
    const row = rs.first();
    if (!row) return null;
    const id = fromLong(row.get('message_id'));
    return bucketOfId(id);
  }
}

function statements(ks: string) {
  return {
    insert: `INSERT INTO ${ks}.messages
           (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at, terms,
            ${CHANGE_COLUMNS}, attachments)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    selectOne: `SELECT ${MESSAGE_ROW_COLUMNS} FROM ${ks}.messages
       WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    /** One bucket, oldest first, after an id (`getHistory` with `after`). */
    selectAfter: `SELECT ${MESSAGE_ROW_COLUMNS} FROM ${ks}.messages
           WHERE conversation_id = ? AND bucket = ? AND message_id > ?
           ORDER BY message_id ASC LIMIT ?`,
    /** One bucket, newest first, up to an id (`getHistory` with `before` or none). */
    selectUpTo: `SELECT ${MESSAGE_ROW_COLUMNS} FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND message_id <= ? LIMIT ?`,
    updateLast: `UPDATE ${ks}.conversation_last_message USING TIMESTAMP ? SET message_id = ? WHERE conversation_id = ?`,
    /** Through the `client_msg_id` index (migration 3): the rows of one client message id. */
    selectByClientMsgId: `SELECT message_id, sender_id FROM ${ks}.messages
         WHERE conversation_id = ? AND bucket = ? AND client_msg_id = ?`,
    selectLast: `SELECT message_id FROM ${ks}.conversation_last_message WHERE conversation_id = ?`,
  } as const;
}
