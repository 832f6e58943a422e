/**
 * The embedded store's search index (`Storage.searchMessages`): an inverted index in one LMDB
 * database keyed by [conversationId, term, pad(messageId)], so one conversation's messages with a
 * term are a contiguous key range in id order, read newest first with a reverse cursor. The terms
 * are `searchTerms(body)` (src/protocol/search.ts), as in the Cassandra store.
 *
 * The index is written in the same write transaction as the message (`indexBody` from append and
 * putReplica), so a stored message is searchable as soon as it is acked. Whatever rewrites a
 * stored body (an edit; a delete, which leaves an empty body) must call `reindexBody` in its own
 * transaction — `EmbeddedStorage.applyChange` does both — or the old words would still find it.
 */
import type { Database, Key } from 'lmdb';
import { searchTerms } from '../protocol/search.ts';
import { assertMessageId, clampLimit, fromRecord, type MessageRecord } from './common.ts';
import { MAX_KEY, padId } from './embedded-keys.ts';
import { MAX_SEARCH_LIMIT, type SearchPage, type SearchQuery, type StoredMessage } from './types.ts';

/** [conversationId, term, pad(messageId)] → true */
export type SearchTable = Database<true, Key>;
type MessageTable = Database<MessageRecord, Key>;

/** Adds a message's terms. Call inside the write transaction that stores the message. */
export function indexBody(table: SearchTable, message: StoredMessage): void {
  const id = padId(message.messageId);
  for (const term of searchTerms(message.body)) table.put([message.conversationId, term, id], true);
}

/**
 * Makes the index follow a body rewritten from `oldBody` to `message.body` (an edit, or a delete
 * leaving ''): terms only the old body had are removed, new ones added. Call inside the write
 * transaction that rewrites the message.
 */
export function reindexBody(table: SearchTable, message: StoredMessage, oldBody: string): void {
  const id = padId(message.messageId);
  const next = new Set(searchTerms(message.body));
  for (const term of searchTerms(oldBody)) {
    if (!next.has(term)) table.remove([message.conversationId, term, id]);
  }
  for (const term of next) table.put([message.conversationId, term, id], true);
}

/** Removes every term of a message whose body was `body`. Inside a write transaction. */
export function unindexBody(table: SearchTable, message: StoredMessage): void {
  const id = padId(message.messageId);
  for (const term of searchTerms(message.body)) table.remove([message.conversationId, term, id]);
}

/**
 * Newest matches across the conversations. Each conversation is read newest first along its
 * first term's postings, keeping ids that also have every other term, up to limit + 1 of them; the
 * merge keeps the newest `limit`, and one more than that found means there is a next page.
 */
export function searchIndex(search: SearchTable, messages: MessageTable, query: SearchQuery): SearchPage {
  const limit = clampLimit(query.limit, MAX_SEARCH_LIMIT);
  if (query.before !== undefined) assertMessageId(query.before, 'before');
  const [first, ...rest] = query.terms;
  if (limit === 0 || first === undefined || query.before === 0n) return { messages: [], nextBefore: null };
  const found: StoredMessage[] = [];
  for (const conversationId of new Set(query.conversationIds)) {
    // With `reverse`, lmdb takes `start` as the inclusive upper bound.
    const upper = query.before === undefined ? MAX_KEY : padId(query.before - 1n);
    const start = [conversationId, first, upper];
    let kept = 0;
    for (const key of search.getKeys({ start, end: [conversationId, first], reverse: true })) {
      const id = (key as Key[])[2] as string;
      if (!rest.every((term) => search.doesExist([conversationId, term, id]))) continue;
      const record = messages.get([conversationId, id]);
      if (!record) continue;
      found.push(fromRecord(record));
      if (++kept > limit) break;
    }
  }
  found.sort((a, b) => (a.messageId < b.messageId ? 1 : a.messageId > b.messageId ? -1 : 0));
  const page = found.slice(0, limit);
  return {
    messages: page,
    nextBefore: found.length > limit ? (page[page.length - 1]?.messageId ?? null) : null,
  };
}
