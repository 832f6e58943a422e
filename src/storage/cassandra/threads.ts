/**
 * Replies and threads on Cassandra (`Storage.addThreadReply`, `getThread`). The thread index,
 * `thread_replies ((conversation_id, root_id), reply_id)`, holds a row per reply: recording a
 * reply again rewrites the same row, so the count is computed from the replies, never a counter
 * a retried apply could bump twice. After recording, the root's summary (`thread_count`,
 * `thread_last` on its `messages` row) is recomputed from the index and written at the newest
 * reply's id timestamp: a writer that saw a newer reply wins, and two that saw the same newest
 * reply write the same timestamp, where Cassandra keeps the larger value — the larger count,
 * read by the writer that saw more. The last writer to read sees every reply recorded before its
 * read, so every region ends with the count of all replies (docs/architecture.md, "Replies and
 * threads").
 */
import { assertMessageId, normaliseHistoryQuery } from '../common.ts';
import type { HistoryQuery, StoredMessage } from '../types.ts';
import type { MessageStore } from './messages.ts';
import { bucketOfId, fromLong, idTimestamp, toLong } from './rows.ts';
import type { CqlSession } from './session.ts';

/** Reply rows read in flight at once when a thread page is resolved to messages. */
const PAGE_READS = 16;

export class ThreadStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: CqlSession,
    private readonly messages: Pick<MessageStore, 'getMessage'>,
  ) {
    this.q = statements(db.ks);
  }

  async addThreadReply(reply: StoredMessage): Promise<StoredMessage | null> {
    const rootId = reply.threadRoot;
    if (rootId === undefined || rootId === null) throw new RangeError('addThreadReply: not a reply');
    assertMessageId(rootId, 'threadRoot');
    assertMessageId(reply.messageId);
    const conv = reply.conversationId;
    // The one read before the writes: an UPDATE would otherwise create a row for a root this
    // region has not received yet.
    if (!(await this.messages.getMessage(conv, rootId))) return null;
    await this.db.client.execute(this.q.insert, [conv, toLong(rootId), toLong(reply.messageId)]);
    const rs = await this.db.client.execute(this.q.summary, [conv, toLong(rootId)]);
    const row = rs.first();
    const count = Number(fromLong(row?.get('n')));
    const last: unknown = row?.get('last');
    if (count > 0 && last !== null && last !== undefined) {
      const lastId = fromLong(last);
      await this.db.client.execute(
        this.q.writeSummary,
        [count, toLong(lastId), conv, bucketOfId(rootId), toLong(rootId)],
        { timestamp: idTimestamp(lastId) },
      );
    }
    return this.messages.getMessage(conv, rootId);
  }

  async getThread(conversationId: string, rootId: bigint, query: HistoryQuery): Promise<StoredMessage[]> {
    assertMessageId(rootId, 'rootId');
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0 || before === 0n) return [];
    const root = toLong(rootId);
    const rs =
      after !== undefined
        ? await this.db.client.execute(this.q.selectAfter, [conversationId, root, toLong(after), limit])
        : before !== undefined
          ? await this.db.client.execute(this.q.selectBefore, [conversationId, root, toLong(before), limit])
          : await this.db.client.execute(this.q.selectNewest, [conversationId, root, limit]);
    const ids = rs.rows.map((r) => fromLong(r.get('reply_id')));
    const out: (StoredMessage | null)[] = new Array(ids.length).fill(null);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const i = next++;
        out[i] = await this.messages.getMessage(conversationId, ids[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PAGE_READS, ids.length) }, worker));
    return out.filter((m): m is StoredMessage => m !== null);
  }
}

function statements(ks: string) {
  return {
    insert: `INSERT INTO ${ks}.thread_replies (conversation_id, root_id, reply_id) VALUES (?, ?, ?)`,
    summary: `SELECT COUNT(*) AS n, MAX(reply_id) AS last FROM ${ks}.thread_replies
         WHERE conversation_id = ? AND root_id = ?`,
    writeSummary: `UPDATE ${ks}.messages SET thread_count = ?, thread_last = ?
         WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
    selectNewest: `SELECT reply_id FROM ${ks}.thread_replies
         WHERE conversation_id = ? AND root_id = ? LIMIT ?`,
    selectBefore: `SELECT reply_id FROM ${ks}.thread_replies
         WHERE conversation_id = ? AND root_id = ? AND reply_id < ? LIMIT ?`,
    selectAfter: `SELECT reply_id FROM ${ks}.thread_replies
         WHERE conversation_id = ? AND root_id = ? AND reply_id > ? ORDER BY reply_id ASC LIMIT ?`,
  } as const;
}
