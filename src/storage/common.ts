/**
 * Small pieces both storage implementations share, so they agree on edge cases (limits, id
 * ranges, ordering of conversation summaries).
 */
import type { AttachmentRef } from './attachments.ts';
import {
  type ChangeKind,
  type ConversationSummary,
  type HistoryQuery,
  MAX_HISTORY_LIMIT,
  type MessageReactions,
  type MessageState,
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
  /** A change record's kind and target (ids as decimal strings); absent on a message. */
  change?: { kind: ChangeKind; targetId: string; emoji?: string } | null;
  state?: { revision: string; deleted: boolean; editedAt: number | null; editCount: number } | null;
  attachments?: AttachmentRef[];
  /** A reply's parent and thread root (decimal ids); absent on a message that replies to none. */
  replyTo?: string | null;
  threadRoot?: string | null;
}

export function toRecord(m: StoredMessage): MessageRecord {
  const r: MessageRecord = {
    conversationId: m.conversationId,
    messageId: m.messageId.toString(),
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    body: m.body,
    createdAt: m.createdAt,
    ...(m.attachments?.length ? { attachments: m.attachments } : {}),
  };
  // Left out when absent, so plain messages keep their old encoding (and size) on disk and wire.
  if (m.change) {
    r.change = { kind: m.change.kind, targetId: m.change.targetId.toString() };
    if (m.change.emoji !== undefined) r.change.emoji = m.change.emoji;
  }
  if (m.state) r.state = { ...m.state, revision: m.state.revision.toString() };
  if (m.replyTo !== undefined && m.replyTo !== null && m.threadRoot !== undefined && m.threadRoot !== null) {
    r.replyTo = m.replyTo.toString();
    r.threadRoot = m.threadRoot.toString();
  }
  return r;
}

export function fromRecord(r: MessageRecord): StoredMessage {
  const m: StoredMessage = {
    conversationId: r.conversationId,
    messageId: BigInt(r.messageId),
    senderId: r.senderId,
    clientMsgId: r.clientMsgId,
    body: r.body,
    createdAt: r.createdAt,
    ...(r.attachments?.length ? { attachments: r.attachments } : {}),
  };
  if (r.change) {
    m.change = { kind: r.change.kind, targetId: BigInt(r.change.targetId) };
    if (r.change.emoji !== undefined) m.change.emoji = r.change.emoji;
  }
  if (r.state) m.state = { ...r.state, revision: BigInt(r.state.revision) };
  if (r.replyTo && r.threadRoot) {
    m.replyTo = BigInt(r.replyTo);
    m.threadRoot = BigInt(r.threadRoot);
  }
  return m;
}

/**
 * The state two changes leave, whatever order they are applied in: a delete wins over any edit
 * (and between deletes the larger revision, so every copy agrees); otherwise the larger revision
 * wins. Commutative, associative and idempotent: what lets regions apply changes in any order.
 */
export function mergeState(a: MessageState | null | undefined, b: MessageState): MessageState {
  if (!a) return b;
  if (a.deleted !== b.deleted) return a.deleted ? a : b;
  return a.revision >= b.revision ? a : b;
}

/**
 * A message row after `incoming` meets the row already stored (`existing`): the row whose state
 * wins `mergeState` keeps its body, so a replica or a republished message written again over an
 * edited or deleted row never brings an old body back.
 */
export function mergeMessage(
  existing: StoredMessage | null | undefined,
  incoming: StoredMessage,
): StoredMessage {
  if (!existing || (!existing.state && !incoming.state)) return incoming;
  if (!existing.state) return incoming;
  if (!incoming.state) return existing;
  return mergeState(existing.state, incoming.state) === existing.state ? existing : incoming;
}

/**
 * What a deleted message keeps: its place (ids, sender, time) and the tombstone's state. Its body
 * and attachment refs go (the files themselves are removed by the delete op, `AttachmentStore.delete`).
 */
export function tombstone(m: StoredMessage, state: MessageState): StoredMessage {
  const { attachments: _files, ...kept } = m;
  return { ...kept, body: '', state };
}

/** Separates emoji and user in a reaction key (neither may contain whitespace). */
export const REACTION_KEY_SEP = '\n';

/** Reactions from (emoji, user) → on, with the largest revision applied; null if none ever. */
export function reactionsFrom(
  cells: Iterable<[emoji: string, userId: string, on: boolean]>,
  revision: bigint | null,
): MessageReactions | null {
  if (revision === null) return null;
  const byEmoji = new Map<string, string[]>();
  for (const [emoji, userId, on] of cells) {
    if (!on) continue;
    const users = byEmoji.get(emoji) ?? [];
    users.push(userId);
    byEmoji.set(emoji, users);
  }
  const entries = [...byEmoji.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([emoji, users]) => ({ emoji, users: users.sort() }));
  return { revision, entries };
}

/** True when `m` is a change record (an edit or delete of another message). */
export function isChange(m: StoredMessage): boolean {
  return m.change !== undefined && m.change !== null;
}

/**
 * A history page without change records, still `limit` long when the conversation has that many
 * messages: `read` returns raw pages (change records included) and is called again from the last
 * id read while change records left the page short. Changes are rare next to messages, so this
 * rarely costs a second read; a separate table would cost a second read on every replay instead.
 */
export async function messagesOnly(
  query: HistoryQuery,
  read: (q: HistoryQuery) => Promise<StoredMessage[]>,
): Promise<StoredMessage[]> {
  if (query.includeChanges === true) return read(query);
  const limit = clampLimit(query.limit, MAX_HISTORY_LIMIT);
  const out: StoredMessage[] = [];
  let q: HistoryQuery = { ...query, limit };
  for (;;) {
    const page = await read(q);
    for (const m of page) if (!isChange(m) && out.length < limit) out.push(m);
    if (page.length < q.limit || out.length >= limit) return out;
    const last = page[page.length - 1]!.messageId;
    q = q.after !== undefined ? { ...q, after: last } : { ...q, before: last };
  }
}

/** A message's attachments as one text column (Cassandra), null when it has none. */
export function attachmentsColumn(m: StoredMessage): string | null {
  return m.attachments?.length ? JSON.stringify(m.attachments) : null;
}

/** Reads `attachmentsColumn` back. */
export function parseAttachmentsColumn(value: unknown): { attachments?: AttachmentRef[] } {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'string')
    throw new TypeError(`column attachments: expected text, got ${typeof value}`);
  return { attachments: JSON.parse(value) as AttachmentRef[] };
}
