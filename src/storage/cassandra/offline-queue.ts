/**
 * The per-recipient offline queue: `offline_queue` partitioned by user, clustered by message id
 * ascending, so a user's queue reads oldest first.
 */
import { assertMessageId, attachmentsColumn, clampLimit, mapLimit, unique } from '../common.ts';
import type { StoredMessage } from '../types.ts';
import type { GroupCommit } from './group-commit.ts';
import {
  CHANGE_COLUMNS,
  changeParams,
  fromLong,
  MESSAGE_COLUMNS,
  messageRowBytes,
  rowToMessage,
  toLong,
} from './rows.ts';
import type { CqlSession } from './session.ts';

/** Deletes per `IN (…)` when acking the offline queue. */
const ACK_CHUNK = 100;
/** Inserts handed to the group commit at once per `enqueueOffline`. */
const ENQUEUE_CONCURRENCY = 32;

export class OfflineQueue {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    private readonly writes: GroupCommit,
  ) {
    this.q = statements(db.ks);
  }

  async enqueueOffline(userId: string, messages: readonly StoredMessage[]): Promise<void> {
    for (const m of messages) assertMessageId(m.messageId);
    // One write per message through the group commit, which sizes its batches (bodies can be
    // large; batches over 50 KB are rejected). Re-inserting the same (user, id) overwrites it:
    // idempotent.
    await mapLimit(messages, ENQUEUE_CONCURRENCY, (m) =>
      this.writes.write([
        {
          query: this.q.insert,
          params: [
            userId,
            toLong(m.messageId),
            m.conversationId,
            m.senderId,
            m.clientMsgId,
            m.body,
            new Date(m.createdAt),
            ...changeParams(m),
            attachmentsColumn(m),
          ],
          bytes: messageRowBytes(m),
        },
      ]),
    );
  }

  async listOffline(userId: string, limit: number, after?: bigint): Promise<StoredMessage[]> {
    const n = clampLimit(limit, 0x7fff_ffff);
    if (n === 0) return [];
    const rows =
      after === undefined
        ? await this.db.selectAll(this.q.selectFirst, [userId, n])
        : await this.db.selectAll(this.q.selectAfter, [userId, toLong(after), n]);
    return rows.map(rowToMessage);
  }

  async ackOffline(userId: string, messageIds: readonly bigint[]): Promise<void> {
    const ids = unique(messageIds);
    const chunks: bigint[][] = [];
    for (let i = 0; i < ids.length; i += ACK_CHUNK) chunks.push(ids.slice(i, i + ACK_CHUNK));
    await Promise.all(
      chunks.map((chunk) => this.db.client.execute(this.q.deleteIds, [userId, chunk.map(toLong)])),
    );
  }

  async countOffline(userId: string): Promise<number> {
    const rs = await this.db.client.execute(this.q.count, [userId]);
    return Number(fromLong(rs.first()?.get('n')));
  }
}

function statements(ks: string) {
  return {
    insert: `INSERT INTO ${ks}.offline_queue
           (user_id, message_id, conversation_id, sender_id, client_msg_id, body, created_at,
            ${CHANGE_COLUMNS}, attachments)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    selectFirst: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.offline_queue WHERE user_id = ? LIMIT ?`,
    selectAfter: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.offline_queue WHERE user_id = ? AND message_id > ? LIMIT ?`,
    deleteIds: `DELETE FROM ${ks}.offline_queue WHERE user_id = ? AND message_id IN ?`,
    count: `SELECT COUNT(*) AS n FROM ${ks}.offline_queue WHERE user_id = ?`,
  } as const;
}
