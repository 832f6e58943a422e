/**
 * What each user has read: read markers (only ever moving forward), unread counting, and the
 * user's conversation list built from them (`listUserConversations`).
 */
import cassandra from 'cassandra-driver';
import { mapLimit, sortByActivity } from '../common.ts';
import { type Conversation, type ConversationSummary, type StoredMessage, UNREAD_CAP } from '../types.ts';
import type { ConversationStore } from './conversations.ts';
import type { MessageStore } from './messages.ts';
import { bucketOfId, creationBucket, fromLong, idTimestamp, text, toLong } from './rows.ts';
import { type CqlSession, SCAN_PAGE } from './session.ts';

const { types: cql } = cassandra;

/** Parallel per-conversation lookups in listUserConversations (a user can have hundreds). */
const SUMMARY_CONCURRENCY = 16;

export class ReadState {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    private readonly conversations: Pick<ConversationStore, 'getConversation' | 'listUserConversationIds'>,
    private readonly messages: Pick<MessageStore, 'lastMessage'>,
  ) {
    this.q = statements(db.ks);
  }

  async markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    // Timestamp from the id (see idTimestamp): a smaller id can never overwrite a larger one,
    // however concurrent markRead calls interleave. Never delete these cells with a wall-clock
    // timestamp: the tombstone would shadow every later marker older than the deletion.
    await this.db.client.execute(this.q.updateMarker, [toLong(messageId), userId, conversationId], {
      timestamp: idTimestamp(messageId),
    });
  }

  async getReadMarker(userId: string, conversationId: string): Promise<bigint | null> {
    const rs = await this.db.client.execute(this.q.selectMarker, [userId, conversationId]);
    const row = rs.first();
    return row ? fromLong(row.get('last_read_id')) : null;
  }

  async listUserConversations(userId: string): Promise<ConversationSummary[]> {
    const [ids, markerRows] = await Promise.all([
      this.conversations.listUserConversationIds(userId),
      this.db.selectAll(this.q.selectUserMarkers, [userId]),
    ]);
    const markers = new Map<string, bigint>();
    for (const row of markerRows)
      markers.set(text(row, 'conversation_id'), fromLong(row.get('last_read_id')));

    const summaries = await mapLimit(ids, SUMMARY_CONCURRENCY, async (conversationId) => {
      const [conversation, lastMessage] = await Promise.all([
        this.conversations.getConversation(conversationId),
        this.messages.lastMessage(conversationId),
      ]);
      if (!conversation) return null;
      const lastReadId = markers.get(conversationId) ?? null;
      const unreadCount = await this.countUnread(userId, conversation, lastReadId, lastMessage);
      return { conversation, lastMessage, unreadCount, lastReadId } satisfies ConversationSummary;
    });
    return sortByActivity(summaries.filter((s) => s !== null));
  }

  /** Messages after the marker not sent by the user, counted up to UNREAD_CAP. */
  private async countUnread(
    userId: string,
    conversation: Conversation,
    lastReadId: bigint | null,
    lastMessage: StoredMessage | null,
  ): Promise<number> {
    if (!lastMessage || (lastReadId !== null && lastMessage.messageId <= lastReadId)) return 0;
    const after = lastReadId ?? -1n;
    const first = lastReadId === null ? creationBucket(conversation.createdAt) : bucketOfId(after + 1n);
    const last = bucketOfId(lastMessage.messageId);
    let count = 0;
    for (let bucket = first; bucket <= last && count < UNREAD_CAP; bucket++) {
      let pageState: string | undefined;
      do {
        // Not toLong: with no marker, `after` is -1, below every id.
        const rs = await this.db.client.execute(
          this.q.selectSendersAfter,
          [conversation.id, bucket, cql.Long.fromString(after.toString())],
          { fetchSize: SCAN_PAGE, ...(pageState ? { pageState } : {}) },
        );
        for (const row of rs.rows) {
          // Change records (edits, deletes) are not new messages.
          if (row.get('change_kind') !== null) continue;
          if (row.get('sender_id') !== userId && ++count >= UNREAD_CAP) break;
        }
        pageState = rs.pageState ?? undefined;
      } while (pageState && count < UNREAD_CAP);
    }
    return count;
  }
}

function statements(ks: string) {
  return {
    updateMarker: `UPDATE ${ks}.read_markers SET last_read_id = ? WHERE user_id = ? AND conversation_id = ?`,
    selectMarker: `SELECT last_read_id FROM ${ks}.read_markers WHERE user_id = ? AND conversation_id = ?`,
    selectUserMarkers: `SELECT conversation_id, last_read_id FROM ${ks}.read_markers WHERE user_id = ?`,
    selectSendersAfter: `SELECT sender_id, change_kind FROM ${ks}.messages
           WHERE conversation_id = ? AND bucket = ? AND message_id > ?`,
  } as const;
}
