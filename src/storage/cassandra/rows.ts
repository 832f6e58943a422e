/**
 * How the store's values sit in Cassandra: the 10-day message buckets, message ids as `bigint`
 * columns and as write timestamps, and rows decoded back into `StoredMessage` / `Conversation`
 * (checking each column's type, so a schema drift fails loudly instead of yielding garbage).
 */
import cassandra, { type types } from 'cassandra-driver';
import { EPOCH_MS, snowflakeTime } from '../../util/snowflake.ts';
import { assertMessageId, parseAttachmentsColumn, REACTION_KEY_SEP, reactionsFrom } from '../common.ts';
import type { ChangeKind, Conversation, ConversationKind, MessageState, StoredMessage } from '../types.ts';

const { types: cql } = cassandra;
type Long = types.Long;
type Row = types.Row;

/** Width of a message partition: Discord's 10 days keeps even busy conversations' partitions small. */
export const BUCKET_MS = 10 * 24 * 3600 * 1000;
/**
 * Clock skew tolerated between gateways: one creating a conversation and one minting its ids, or
 * one recording a late message and one listing the late index.
 */
export const CLOCK_SKEW_MARGIN_MS = 60_000;
/** Buckets of one partition family read in parallel while walking them. */
const BUCKET_READ_AHEAD = 4;

/**
 * Columns of a message row, in `messages`, `offline_queue` and `late_messages` alike (see
 * `rowToMessage`): the message, a change record's kind and target (migration 5), the state
 * edits and deletes left (written only by `ChangeStore`, with change-derived write timestamps),
 * the message's attachment refs (migration 6), and a reply's parent and root (migration 7).
 */
export const MESSAGE_COLUMNS =
  'conversation_id, message_id, sender_id, client_msg_id, body, created_at, change_kind, target_id, ' +
  'change_emoji, revision, deleted, edited_at, edit_count, attachments, reply_to, thread_root';

/** `messages` only: its columns plus the reactions and thread summary (copies carry neither). */
export const MESSAGE_ROW_COLUMNS = `${MESSAGE_COLUMNS}, reactions, reactions_rev, thread_count, thread_last`;

/** The columns `changeParams` binds, in its order, for the insert statements. */
export const CHANGE_COLUMNS = 'change_kind, target_id, change_emoji, reply_to, thread_root';

/**
 * A change record's columns (kind, target, emoji) and a reply's (parent, root) as bound values,
 * in `CHANGE_COLUMNS` order (nulls where the message is neither).
 */
export function changeParams(m: StoredMessage): (string | Long | null)[] {
  const change = m.change
    ? [m.change.kind, toLong(m.change.targetId), m.change.emoji ?? null]
    : [null, null, null];
  const reply =
    m.replyTo !== undefined && m.replyTo !== null && m.threadRoot !== undefined && m.threadRoot !== null
      ? [toLong(m.replyTo), toLong(m.threadRoot)]
      : [null, null];
  return [...change, ...reply];
}

/**
 * Write timestamp (µs) of a change's state cells. Edits: from the change's id, so the larger
 * revision wins under last-write-wins and every message insert (written at its own, earlier, id's
 * timestamp) loses to it. Deletes: the same plus `DELETE_TS_OFFSET`, above any edit's, so a delete
 * wins whatever order the two are applied in (and between deletes, the larger revision).
 */
export function stateTimestamp(state: MessageState): Long {
  const base = BigInt(idTimestamp(state.revision).toString());
  return cql.Long.fromString((state.deleted ? base + DELETE_TS_OFFSET : base).toString());
}

/**
 * Write timestamp (µs) of a message row's insert: its id's, moved back by `INSERT_TS_LEAD_US`.
 * Below every change's (`stateTimestamp`) even when the change was minted on a gateway whose
 * clock is behind the message's (up to two minutes), so a replica or resend of the message
 * written after an edit never overwrites it. Setting a collection (`terms`) writes its
 * tombstone one µs below the write, which must still be above the insert: it is, by far.
 */
export function insertTimestamp(id: bigint): Long {
  return cql.Long.fromString((BigInt(idTimestamp(id).toString()) - INSERT_TS_LEAD_US).toString());
}

/** Two minutes: the clock skew between regions' gateways `insertTimestamp` tolerates. */
const INSERT_TS_LEAD_US = 120_000_000n;

/** ~3,000 years of µs: puts a delete's cells past any edit's timestamp, in a signed 64-bit range. */
const DELETE_TS_OFFSET = 100_000_000_000_000_000n;

/** Cassandra partition (of a conversation's messages or late index) for this time. */
export function bucketOf(ms: number): number {
  return Math.floor(ms / BUCKET_MS);
}

export function bucketOfId(id: bigint): number {
  return bucketOf(snowflakeTime(id));
}

/**
 * First bucket that can hold a conversation's messages. Ids are minted after the conversation
 * is created, but possibly on another gateway whose clock is behind the creator's; the margin
 * covers that skew at the cost of one more (usually empty) bucket read now and then.
 */
export function creationBucket(createdAt: number): number {
  return bucketOf(Math.max(createdAt - CLOCK_SKEW_MARGIN_MS, EPOCH_MS));
}

/**
 * Reads buckets `from` → `to` (step ±1) until `limit` rows are found, querying up to
 * BUCKET_READ_AHEAD buckets at once so a quiet conversation does not cost one round trip per
 * empty 10-day window. `read` returns at most `n` rows of one bucket, in the walk's order.
 */
export async function walkBuckets<T>(
  from: number,
  to: number,
  step: 1 | -1,
  limit: number,
  read: (bucket: number, n: number) => Promise<types.ResultSet>,
  decode: (row: Row) => T,
): Promise<T[]> {
  const out: T[] = [];
  let bucket = from;
  const more = () => (step > 0 ? bucket <= to : bucket >= to);
  while (out.length < limit && more()) {
    const batch: number[] = [];
    while (batch.length < BUCKET_READ_AHEAD && more()) {
      batch.push(bucket);
      bucket += step;
    }
    const need = limit - out.length;
    const pages = await Promise.all(batch.map((b) => read(b, need)));
    for (const page of pages) {
      for (const row of page.rows) {
        if (out.length >= limit) break;
        out.push(decode(row));
      }
    }
  }
  return out;
}

export function toLong(id: bigint): Long {
  assertMessageId(id);
  return cql.Long.fromString(id.toString());
}

export function fromLong(value: unknown): bigint {
  if (value instanceof cql.Long) return BigInt(value.toString());
  if (typeof value === 'bigint') return value;
  throw new TypeError(`expected a bigint column, got ${typeof value}`);
}

/**
 * Write timestamp (µs) that grows with the id: the id's millisecond plus its low 22 bits scaled
 * into the remaining 1000 µs. Cells written with it resolve to the largest id under Cassandra's
 * last-write-wins (equal timestamps fall back to the larger value, which is again the larger id),
 * so "only move forward" needs no read-before-write and no lightweight transaction.
 */
export function idTimestamp(id: bigint): Long {
  const micros = BigInt(snowflakeTime(id)) * 1000n + (((id & 0x3f_ffffn) * 1000n) >> 22n);
  return cql.Long.fromString(micros.toString());
}

/**
 * Rough size of a message row's mutation, for keeping group-committed batches under Cassandra's
 * batch size thresholds: 3 bytes per UTF-16 unit of its strings (UTF-8's worst case) plus the
 * fixed-width columns and per-cell overhead.
 */
export function messageRowBytes(m: StoredMessage): number {
  return (
    64 +
    3 * (m.body.length + m.conversationId.length + m.senderId.length + (m.clientMsgId?.length ?? 0)) +
    (m.attachments ? 200 * m.attachments.length : 0)
  );
}

export function text(row: Row, column: string): string {
  const v: unknown = row.get(column);
  if (typeof v !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof v}`);
  return v;
}

function optionalText(row: Row, column: string): string | null {
  const v: unknown = row.get(column);
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof v}`);
  return v;
}

export function millis(row: Row, column: string): number {
  const v: unknown = row.get(column);
  if (!(v instanceof Date)) throw new TypeError(`column ${column}: expected timestamp, got ${typeof v}`);
  return v.getTime();
}

export function rowToMessage(row: Row): StoredMessage {
  const m: StoredMessage = {
    conversationId: text(row, 'conversation_id'),
    messageId: fromLong(row.get('message_id')),
    senderId: text(row, 'sender_id'),
    clientMsgId: optionalText(row, 'client_msg_id'),
    body: text(row, 'body'),
    createdAt: millis(row, 'created_at'),
    ...parseAttachmentsColumn(row.get('attachments')),
  };
  const kind = optionalText(row, 'change_kind');
  if (kind !== null) {
    m.change = { kind: kind as ChangeKind, targetId: fromLong(row.get('target_id')) };
    const emoji = optionalText(row, 'change_emoji');
    if (emoji !== null) m.change.emoji = emoji;
  }
  // Only `messages` rows have reactions (read with MESSAGE_ROW_COLUMNS).
  const reactionsRev: unknown = row.get('reactions_rev');
  if (reactionsRev !== null && reactionsRev !== undefined) {
    const map = (row.get('reactions') ?? {}) as Record<string, boolean>;
    const cells: Array<[string, string, boolean]> = Object.entries(map).map(([key, on]) => {
      const at = key.indexOf(REACTION_KEY_SEP);
      return [key.slice(0, at), key.slice(at + 1), on === true];
    });
    const reactions = reactionsFrom(cells, fromLong(reactionsRev));
    if (reactions) m.reactions = reactions;
  }
  const replyTo: unknown = row.get('reply_to');
  const threadRoot: unknown = row.get('thread_root');
  if (replyTo !== null && replyTo !== undefined && threadRoot !== null && threadRoot !== undefined) {
    m.replyTo = fromLong(replyTo);
    m.threadRoot = fromLong(threadRoot);
  }
  // Only `messages` rows have a thread summary (read with MESSAGE_ROW_COLUMNS).
  const threadLast: unknown = row.get('thread_last');
  if (threadLast !== null && threadLast !== undefined) {
    m.thread = { replyCount: Number(row.get('thread_count') ?? 0), lastReplyId: fromLong(threadLast) };
  }
  const revision: unknown = row.get('revision');
  if (revision !== null && revision !== undefined) {
    const editedAt: unknown = row.get('edited_at');
    m.state = {
      revision: fromLong(revision),
      deleted: row.get('deleted') === true,
      editedAt: editedAt instanceof Date ? editedAt.getTime() : null,
      editCount: Number(row.get('edit_count') ?? 0),
    };
  }
  return m;
}

export function rowToConversation(row: Row): Conversation {
  return {
    id: text(row, 'conversation_id'),
    kind: text(row, 'kind') as ConversationKind,
    title: optionalText(row, 'title'),
    createdBy: text(row, 'created_by'),
    createdAt: millis(row, 'created_at'),
  };
}
