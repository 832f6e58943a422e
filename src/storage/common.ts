/**
 * Small pieces both storage implementations share, so they agree on edge cases (limits, id
 * ranges, ordering of conversation summaries).
 */
import {
  type ConversationSummary,
  type HistoryQuery,
  MAX_HISTORY_LIMIT,
  type StoredMessage,
} from './types.ts';

/** Largest id a signed 64-bit column (Cassandra `bigint`) can hold; snowflakes stay below it. */
export const MAX_MESSAGE_ID = 0x7fff_ffff_ffff_ffffn;

/** Throws a RangeError unless `id` is a valid message id (0 ≤ id ≤ 2^63-1). */
export function assertMessageId(id: bigint, what = 'messageId'): void {
  if (typeof id !== 'bigint' || id < 0n || id > MAX_MESSAGE_ID) {
    throw new RangeError(`${what} must be a bigint in 0..2^63-1, got ${String(id)}`);
  }
}

/** The latest time a `Date` (and so a Cassandra `timestamp` through the driver) can hold. */
export const MAX_TIME_MS = 8.64e15;

/** Throws a RangeError unless `ms` is a whole number of ms in 0..MAX_TIME_MS (a late-index time). */
export function assertVisibleAt(ms: number, what = 'visibleAt'): void {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_TIME_MS) {
    throw new RangeError(`${what} must be a whole number of ms in 0..${MAX_TIME_MS}, got ${String(ms)}`);
  }
}

/**
 * A `listLate` lower bound as a whole number of ms: fractions round up (visibility times are
 * whole ms), anything below 0 reads from 0 and anything past MAX_TIME_MS from there (finding
 * nothing). NaN is a RangeError.
 */
export function normaliseSince(sinceVisibleAt: number): number {
  if (Number.isNaN(sinceVisibleAt)) throw new RangeError('sinceVisibleAt must be a number, got NaN');
  return Math.min(Math.max(Math.ceil(sinceVisibleAt), 0), MAX_TIME_MS);
}

/** Normalised history query: validated bounds and a limit in 0..MAX_HISTORY_LIMIT. */
export interface NormalisedHistoryQuery {
  before: bigint | undefined;
  after: bigint | undefined;
  limit: number;
}

export function normaliseHistoryQuery(query: HistoryQuery): NormalisedHistoryQuery {
  const { before, after } = query;
  if (before !== undefined && after !== undefined) {
    throw new RangeError('history query: `before` and `after` are mutually exclusive');
  }
  if (before !== undefined) assertMessageId(before, 'before');
  if (after !== undefined) assertMessageId(after, 'after');
  return { before, after, limit: clampLimit(query.limit, MAX_HISTORY_LIMIT) };
}

/** A page size as a whole number in 0..max (NaN and negatives become 0). */
export function clampLimit(limit: number, max: number): number {
  const raw = Number.isFinite(limit) ? Math.floor(limit) : limit === Number.POSITIVE_INFINITY ? max : 0;
  return Math.min(Math.max(raw, 0), max);
}

/** Most recent activity first: the last message's id, or the conversation's creation time. */
export function sortByActivity(summaries: ConversationSummary[]): ConversationSummary[] {
  const activity = (s: ConversationSummary): number => s.lastMessage?.createdAt ?? s.conversation.createdAt;
  return summaries.sort((a, b) => {
    const byTime = activity(b) - activity(a);
    if (byTime !== 0) return byTime;
    const idA = a.lastMessage?.messageId ?? -1n;
    const idB = b.lastMessage?.messageId ?? -1n;
    if (idA !== idB) return idB > idA ? 1 : -1;
    return a.conversation.id < b.conversation.id ? -1 : a.conversation.id > b.conversation.id ? 1 : 0;
  });
}

/** Removes duplicates while keeping the first occurrence's order. */
export function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** `Promise.all(items.map(fn))` with at most `concurrency` calls in flight, results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * A message with its id as a decimal string, for encodings with no lossless bigint (msgpack in
 * the embedded store, JSON on the cross-region link).
 */
export interface MessageRecord {
  conversationId: string;
  messageId: string;
  senderId: string;
  clientMsgId: string | null;
  body: string;
  createdAt: number;
}

export function toRecord(m: StoredMessage): MessageRecord {
  return {
    conversationId: m.conversationId,
    messageId: m.messageId.toString(),
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    body: m.body,
    createdAt: m.createdAt,
  };
}

export function fromRecord(r: MessageRecord): StoredMessage {
  return {
    conversationId: r.conversationId,
    messageId: BigInt(r.messageId),
    senderId: r.senderId,
    clientMsgId: r.clientMsgId,
    body: r.body,
    createdAt: r.createdAt,
  };
}
