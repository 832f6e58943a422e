/**
 * `EmbeddedStorage`: the `Storage` contract on LMDB in a local directory, for a single node
 * (`npm start` with no services). Durable: every write promise resolves only after LMDB has
 * committed the transaction and flushed it to disk.
 *
 * Layout: one LMDB environment with a named database per table. Keys are arrays encoded by
 * lmdb's ordered-binary, so `[conversationId, paddedId]` keeps a conversation's messages
 * contiguous and in id order and history is a cursor range scan. Message ids are stored in keys
 * as 20-digit zero-padded decimal strings: ordered-binary can encode a bigint, but reads it back
 * as a `number` when it fits a double, and fixed-width strings sort numerically with no such
 * surprise. Late-index times are padded the same way (`embedded-late.ts`).
 */
import { mkdirSync } from 'node:fs';
import { type Database, type Key, open, type RootDatabase } from 'lmdb';
import {
  assertMessageId,
  fromRecord,
  type MessageRecord,
  normaliseHistoryQuery,
  sortByActivity,
  toRecord,
  unique,
} from './common.ts';
import { MAX_KEY, padId } from './embedded-keys.ts';
import { type LateTable, readLate, writeLate } from './embedded-late.ts';
import { indexBody, reindexBody, type SearchTable, searchIndex } from './embedded-search.ts';
import {
  type AppendResult,
  type Conversation,
  type ConversationSummary,
  type HistoryQuery,
  type LateMessage,
  type SearchPage,
  type SearchQuery,
  type Storage,
  type StoredMessage,
  UNREAD_CAP,
} from './types.ts';

export { padId } from './embedded-keys.ts';

/** Bumped when the on-disk layout changes incompatibly (a new table is compatible). */
const LAYOUT_VERSION = 1;

interface DedupRecord {
  conversationId: string;
  messageId: string;
}

interface Tables {
  meta: Database<unknown, string>;
  conversations: Database<Conversation, string>;
  /** [conversationId, userId] → true */
  members: Database<true, Key>;
  /** [userId, conversationId] → true */
  userConversations: Database<true, Key>;
  /** [conversationId, pad(messageId)] → message */
  messages: Database<MessageRecord, Key>;
  /** [senderId, clientMsgId] → where the original is */
  dedup: Database<DedupRecord, Key>;
  /** [userId, conversationId] → pad(last read id) */
  readMarkers: Database<string, Key>;
  /** [userId, pad(messageId)] → full copy of the message */
  offline: Database<MessageRecord, Key>;
  /** [conversationId, pad(visibleAt), pad(messageId)] → the message and visibleAt */
  late: LateTable;
  /** [conversationId, term, pad(messageId)] → true: the search index (`embedded-search.ts`) */
  search: SearchTable;
}

export interface EmbeddedStorageOptions {
  /** Directory holding the LMDB files; created if missing. */
  dataDir: string;
}

export class EmbeddedStorage implements Storage {
  readonly dataDir: string;
  private root: RootDatabase | null = null;
  private tables: Tables | null = null;

  constructor(options: EmbeddedStorageOptions | string) {
    this.dataDir = typeof options === 'string' ? options : options.dataDir;
  }

  async init(): Promise<void> {
    if (this.root) return;
    mkdirSync(this.dataDir, { recursive: true });
    // noSubdir: false — lmdb otherwise takes a path whose last component has a dot
    // (`mktemp -d` makes `/tmp/tmp.X`) for a file name and fails with "Is a directory".
    const root = open({ path: this.dataDir, maxDbs: 16, noSubdir: false });
    const tables: Tables = {
      meta: root.openDB({ name: 'meta' }),
      conversations: root.openDB({ name: 'conversations' }),
      members: root.openDB({ name: 'members' }),
      userConversations: root.openDB({ name: 'user_conversations' }),
      messages: root.openDB({ name: 'messages' }),
      dedup: root.openDB({ name: 'dedup' }),
      readMarkers: root.openDB({ name: 'read_markers' }),
      offline: root.openDB({ name: 'offline' }),
      late: root.openDB({ name: 'late' }),
      search: root.openDB({ name: 'search' }),
    };
    const version = tables.meta.get('layoutVersion');
    if (version !== undefined && version !== LAYOUT_VERSION) {
      await root.close();
      throw new Error(
        `embedded storage in ${this.dataDir} has layout version ${String(version)}, this build reads ${LAYOUT_VERSION}`,
      );
    }
    this.root = root;
    this.tables = tables;
    if (version === undefined) await this.durable(tables.meta.put('layoutVersion', LAYOUT_VERSION));
    if (tables.meta.get('searchIndexed') !== true) await this.buildSearchIndex();
  }

  /** Indexes the messages a store from before the search index holds (once, at first open). */
  private async buildSearchIndex(): Promise<void> {
    const t = this.t();
    await this.durable(
      t.search.transaction(() => {
        for (const { value } of t.messages.getRange({})) indexBody(t.search, fromRecord(value));
        t.meta.put('searchIndexed', true);
      }),
    );
  }

  async close(): Promise<void> {
    const root = this.root;
    if (!root) return;
    this.root = null;
    this.tables = null;
    await root.flushed;
    await root.close();
  }

  async ping(): Promise<void> {
    this.t().meta.get('layoutVersion');
  }

  async createConversation(conv: Conversation, members: readonly string[]): Promise<Conversation> {
    const t = this.t();
    return this.durable(
      t.conversations.transaction(() => {
        const existing = t.conversations.get(conv.id);
        if (existing) return existing;
        const stored: Conversation = { ...conv };
        t.conversations.put(conv.id, stored);
        for (const userId of unique(members)) {
          t.members.put([conv.id, userId], true);
          t.userConversations.put([userId, conv.id], true);
        }
        return stored;
      }),
    );
  }

  async getConversation(id: string): Promise<Conversation | null> {
    return this.t().conversations.get(id) ?? null;
  }

  async addMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    const t = this.t();
    await this.durable(
      t.members.transaction(() => {
        for (const userId of unique(userIds)) {
          t.members.put([conversationId, userId], true);
          t.userConversations.put([userId, conversationId], true);
        }
      }),
    );
  }

  async removeMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    const t = this.t();
    await this.durable(
      t.members.transaction(() => {
        for (const userId of unique(userIds)) {
          t.members.remove([conversationId, userId]);
          t.userConversations.remove([userId, conversationId]);
        }
      }),
    );
  }

  async listMembers(conversationId: string): Promise<string[]> {
    const out: string[] = [];
    for (const key of this.t().members.getKeys({ start: [conversationId], end: [conversationId, MAX_KEY] })) {
      out.push(String((key as Key[])[1]));
    }
    return out;
  }

  async isMember(conversationId: string, userId: string): Promise<boolean> {
    return this.t().members.doesExist([conversationId, userId]);
  }

  async listUserConversationIds(userId: string): Promise<string[]> {
    const out: string[] = [];
    for (const key of this.t().userConversations.getKeys({ start: [userId], end: [userId, MAX_KEY] })) {
      out.push(String((key as Key[])[1]));
    }
    return out;
  }

  async listUserConversations(userId: string): Promise<ConversationSummary[]> {
    const t = this.t();
    const summaries: ConversationSummary[] = [];
    for (const conversationId of await this.listUserConversationIds(userId)) {
      const conversation = t.conversations.get(conversationId);
      if (!conversation) continue;
      const lastReadId = await this.getReadMarker(userId, conversationId);
      summaries.push({
        conversation,
        lastMessage: this.lastMessage(conversationId),
        unreadCount: this.countUnread(userId, conversationId, lastReadId),
        lastReadId,
      });
    }
    return sortByActivity(summaries);
  }

  async appendMessage(message: StoredMessage): Promise<AppendResult> {
    assertMessageId(message.messageId);
    const t = this.t();
    const record = toRecord(message);
    // LMDB has a single writer: the check and the insert below run in one write transaction, so
    // concurrent resends of the same (senderId, clientMsgId) cannot both store a message.
    return this.durable(
      t.messages.transaction((): AppendResult => {
        if (message.clientMsgId !== null) {
          const dedupKey = [message.senderId, message.clientMsgId];
          const seen = t.dedup.get(dedupKey);
          if (seen) {
            const original = t.messages.get([seen.conversationId, padId(BigInt(seen.messageId))]);
            if (original) return { message: fromRecord(original), duplicate: true };
            // Unreachable with this store (reservation and message commit together); kept so a
            // hand-edited or partially restored database heals instead of losing the message.
            const healed = { ...record, conversationId: seen.conversationId, messageId: seen.messageId };
            t.messages.put([healed.conversationId, padId(BigInt(healed.messageId))], healed);
            indexBody(t.search, fromRecord(healed));
            return { message: fromRecord(healed), duplicate: false };
          }
          t.dedup.put(dedupKey, { conversationId: message.conversationId, messageId: record.messageId });
        }
        t.messages.put([message.conversationId, padId(message.messageId)], record);
        indexBody(t.search, message);
        return { message: fromRecord(record), duplicate: false };
      }),
    );
  }

  async putReplica(message: StoredMessage): Promise<void> {
    assertMessageId(message.messageId);
    const t = this.t();
    const record = toRecord(message);
    await this.durable(
      t.messages.transaction(() => {
        if (message.clientMsgId !== null) {
          const dedupKey = [message.senderId, message.clientMsgId];
          if (!t.dedup.get(dedupKey)) {
            t.dedup.put(dedupKey, { conversationId: message.conversationId, messageId: record.messageId });
          }
        }
        const key = [message.conversationId, padId(message.messageId)];
        // An upsert: if a copy is stored already, the index follows whatever body it had.
        const stored = t.messages.get(key);
        t.messages.put(key, record);
        if (stored) reindexBody(t.search, message, stored.body);
        else indexBody(t.search, message);
      }),
    );
  }

  /**
   * Rewrites a stored message's body and its search terms in one transaction: the edit and delete
   * paths call it (a delete passes ''). Returns the message as now stored, or null if unknown.
   */
  async replaceBody(conversationId: string, messageId: bigint, body: string): Promise<StoredMessage | null> {
    assertMessageId(messageId);
    const t = this.t();
    const key = [conversationId, padId(messageId)];
    return this.durable(
      t.messages.transaction(() => {
        const stored = t.messages.get(key);
        if (!stored) return null;
        const next = { ...stored, body };
        t.messages.put(key, next);
        const message = fromRecord(next);
        reindexBody(t.search, message, stored.body);
        return message;
      }),
    );
  }

  async getMessage(conversationId: string, messageId: bigint): Promise<StoredMessage | null> {
    assertMessageId(messageId);
    const r = this.t().messages.get([conversationId, padId(messageId)]);
    return r ? fromRecord(r) : null;
  }

  async getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0) return [];
    const messages = this.t().messages;
    const out: StoredMessage[] = [];
    if (after !== undefined) {
      // Oldest-first from just above `after`.
      const start = [conversationId, padId(after + 1n)];
      for (const { value } of messages.getRange({ start, end: [conversationId, MAX_KEY], limit })) {
        out.push(fromRecord(value));
      }
      return out;
    }
    if (before === 0n) return [];
    // Newest-first; with `reverse` lmdb treats `start` as the inclusive upper bound.
    const start = before === undefined ? [conversationId, MAX_KEY] : [conversationId, padId(before - 1n)];
    for (const { value } of messages.getRange({ start, end: [conversationId], reverse: true, limit })) {
      out.push(fromRecord(value));
    }
    return out;
  }

  async searchMessages(query: SearchQuery): Promise<SearchPage> {
    const t = this.t();
    return searchIndex(t.search, t.messages, query);
  }

  async markRead(userId: string, conversationId: string, messageId: bigint): Promise<void> {
    assertMessageId(messageId);
    const t = this.t();
    const key = [userId, conversationId];
    const next = padId(messageId);
    await this.durable(
      t.readMarkers.transaction(() => {
        const current = t.readMarkers.get(key);
        // Same-width decimal strings compare like the numbers they encode.
        if (current === undefined || next > current) t.readMarkers.put(key, next);
      }),
    );
  }

  async getReadMarker(userId: string, conversationId: string): Promise<bigint | null> {
    const v = this.t().readMarkers.get([userId, conversationId]);
    return v === undefined ? null : BigInt(v);
  }

  async enqueueOffline(userId: string, messages: readonly StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    for (const m of messages) assertMessageId(m.messageId);
    const t = this.t();
    await this.durable(
      t.offline.transaction(() => {
        for (const m of messages) t.offline.put([userId, padId(m.messageId)], toRecord(m));
      }),
    );
  }

  async listOffline(userId: string, limit: number, after?: bigint): Promise<StoredMessage[]> {
    if (after !== undefined) assertMessageId(after, 'after');
    const n = Number.isFinite(limit) ? Math.max(Math.floor(limit), 0) : 0;
    if (n === 0) return [];
    const start = after === undefined ? [userId] : [userId, padId(after + 1n)];
    const out: StoredMessage[] = [];
    for (const { value } of this.t().offline.getRange({ start, end: [userId, MAX_KEY], limit: n })) {
      out.push(fromRecord(value));
    }
    return out;
  }

  async ackOffline(userId: string, messageIds: readonly bigint[]): Promise<void> {
    if (messageIds.length === 0) return;
    for (const id of messageIds) assertMessageId(id);
    const t = this.t();
    await this.durable(
      t.offline.transaction(() => {
        for (const id of messageIds) t.offline.remove([userId, padId(id)]);
      }),
    );
  }

  async countOffline(userId: string): Promise<number> {
    return this.t().offline.getKeysCount({ start: [userId], end: [userId, MAX_KEY] });
  }

  async recordLate(message: StoredMessage, visibleAt: number): Promise<void> {
    await this.durable(writeLate(this.t().late, message, visibleAt));
  }

  async listLate(conversationId: string, sinceVisibleAt: number, limit: number): Promise<LateMessage[]> {
    return readLate(this.t().late, conversationId, sinceVisibleAt, limit);
  }

  private lastMessage(conversationId: string): StoredMessage | null {
    const range = this.t().messages.getRange({
      start: [conversationId, MAX_KEY],
      end: [conversationId],
      reverse: true,
      limit: 1,
    });
    for (const { value } of range) return fromRecord(value);
    return null;
  }

  /** Messages after the marker not sent by the user, counted up to UNREAD_CAP. */
  private countUnread(userId: string, conversationId: string, lastReadId: bigint | null): number {
    const start = lastReadId === null ? [conversationId] : [conversationId, padId(lastReadId + 1n)];
    let count = 0;
    for (const { value } of this.t().messages.getRange({ start, end: [conversationId, MAX_KEY] })) {
      if (value.senderId === userId) continue;
      if (++count >= UNREAD_CAP) break;
    }
    return count;
  }

  private t(): Tables {
    if (!this.tables) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.tables;
  }

  /**
   * Waits for the write to commit and then for that commit to reach the disk. lmdb's default
   * `overlappingSync` resolves write promises at commit and syncs afterwards, so a crash just
   * after commit could otherwise lose a write we had already reported as durable.
   */
  private async durable<T>(write: Promise<T>): Promise<T> {
    const result = await write;
    await this.root?.flushed;
    return result;
  }
}
