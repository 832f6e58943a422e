/**
 * The embedded store's late index (`Storage.recordLate` / `listLate`): one LMDB database keyed
 * by [conversationId, pad(visibleAt), pad(messageId)], so a single cursor range read yields a
 * conversation's late messages in (visibleAt, id) order from any time on, and recording the same
 * (message, visibleAt) twice overwrites one key. The message is stored whole, so a replay needs
 * no second read. Nothing expires: resume positions may be weeks old.
 */
import type { Database, Key } from 'lmdb';
import {
  assertMessageId,
  assertVisibleAt,
  clampLimit,
  fromRecord,
  type MessageRecord,
  normaliseSince,
  toRecord,
} from './common.ts';
import { MAX_KEY, padId, padTime } from './embedded-keys.ts';
import { type LateMessage, MAX_HISTORY_LIMIT, type StoredMessage } from './types.ts';

export interface LateRecord extends MessageRecord {
  visibleAt: number;
}

export type LateTable = Database<LateRecord, Key>;

/** Stores one late entry; resolves at commit (the caller waits for the flush). */
export function writeLate(table: LateTable, message: StoredMessage, visibleAt: number): Promise<boolean> {
  assertMessageId(message.messageId);
  assertVisibleAt(visibleAt);
  const key = [message.conversationId, padTime(visibleAt), padId(message.messageId)];
  return table.put(key, { ...toRecord(message), visibleAt });
}

/** Entries of a conversation with visibleAt >= sinceVisibleAt, ascending, at most `limit`. */
export function readLate(
  table: LateTable,
  conversationId: string,
  sinceVisibleAt: number,
  limit: number,
): LateMessage[] {
  const n = clampLimit(limit, MAX_HISTORY_LIMIT);
  if (n === 0) return [];
  const start = [conversationId, padTime(normaliseSince(sinceVisibleAt))];
  const out: LateMessage[] = [];
  for (const { value } of table.getRange({ start, end: [conversationId, MAX_KEY], limit: n })) {
    const { visibleAt, ...record } = value;
    out.push({ message: fromRecord(record), visibleAt });
  }
  return out;
}
