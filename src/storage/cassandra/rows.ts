/**
 * How the store's values sit in Cassandra: the 10-day message buckets, message ids as `bigint`
 * columns and as write timestamps, and rows decoded back into `StoredMessage` / `Conversation`
 * (checking each column's type, so a schema drift fails loudly instead of yielding garbage).
 */
import cassandra, { type types } from 'cassandra-driver';
import { EPOCH_MS, snowflakeTime } from '../../util/snowflake.ts';
import { assertMessageId } from '../common.ts';
import type { Conversation, ConversationKind, StoredMessage } from '../types.ts';

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

/** Columns of a message row, in `messages` and in `offline_queue` alike (see `rowToMessage`). */
export const MESSAGE_COLUMNS = 'conversation_id, message_id, sender_id, client_msg_id, body, created_at';

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
    64 + 3 * (m.body.length + m.conversationId.length + m.senderId.length + (m.clientMsgId?.length ?? 0))
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
  return {
    conversationId: text(row, 'conversation_id'),
    messageId: fromLong(row.get('message_id')),
    senderId: text(row, 'sender_id'),
    clientMsgId: optionalText(row, 'client_msg_id'),
    body: text(row, 'body'),
    createdAt: millis(row, 'created_at'),
  };
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
