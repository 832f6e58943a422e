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
import type { Database, Key, RootDatabase } from 'lmdb';
import {
  assertMessageId,
  fromRecord,
  isChange,
  type MessageRecord,
  mergeMessage,
  messagesOnly,
  normaliseHistoryQuery,
  reactionsFrom,
  sortByActivity,
  tombstone,
  toRecord,
  unique,
} from './common.ts';
import { EmbeddedAttachments } from './embedded-attachments.ts';
import { durable } from './embedded-durable.ts';
import { acquireRoot, releaseRoot } from './embedded-env.ts';
import { EmbeddedHomeMoves } from './embedded-home-moves.ts';
import { MAX_KEY, padId, padTime } from './embedded-keys.ts';
import { type LateTable, readLate, writeLate } from './embedded-late.ts';
import { EmbeddedModeration } from './embedded-moderation.ts';
import { EmbeddedMutes } from './embedded-mutes.ts';
import { EmbeddedRetention } from './embedded-retention.ts';
import { EmbeddedRevocations } from './embedded-revocations.ts';
import { indexBody, reindexBody, type SearchTable, searchIndex } from './embedded-search.ts';
import {
  type AppendResult,
  type ChangeApply,
  type Conversation,
  type ConversationSummary,
  type HistoryQuery,
  type LateMessage,
  type ReactionApply,
  type SearchPage,
  type SearchQuery,
  type Storage,
  type StoredMessage,
  type ThreadSummary,
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
  /** [conversationId, pad(messageId), emoji, userId] → the reaction register (see applyReaction) */
  reactions: Database<ReactionCell, Key>;
  /** [conversationId, pad(rootId), pad(replyId)] → true: the thread index (see addThreadReply) */
  threads: Database<true, Key>;
}

/** One (emoji, user) register of a message: on or off, as of change `rev` (a decimal id). */
interface ReactionCell {
  on: boolean;
  rev: string;
}

export interface EmbeddedStorageOptions {
  /** Directory holding the LMDB files; created if missing. */
  dataDir: string;
}

export class EmbeddedStorage implements Storage {
  readonly dataDir: string;
  private root: RootDatabase | null = null;
  private tables: Tables | null = null;
  /** Uploaded files, in the same LMDB environment. */
  readonly attachments = new EmbeddedAttachments();
  /** Token revocations, in the same LMDB environment. */
  readonly revocations = new EmbeddedRevocations();
  /** Roles, bans and blocks, in the same LMDB environment. */
  readonly moderation = new EmbeddedModeration();
  /** Muted conversations, in the same LMDB environment. */
  readonly mutes = new EmbeddedMutes();
  /** Home-region move records, in the same LMDB environment. */
  readonly homeMoves = new EmbeddedHomeMoves();
  /** Retention and erasure, on the same tables (`embedded-retention.ts`). */
  readonly retention = new EmbeddedRetention();

  constructor(options: EmbeddedStorageOptions | string) {
    this.dataDir = typeof options === 'string' ? options : options.dataDir;
  }

  async init(): Promise<void> {
    if (this.root) return;
    mkdirSync(this.dataDir, { recursive: true });
    const root = acquireRoot(this.dataDir);
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
      reactions: root.openDB({ name: 'reactions' }),
      threads: root.openDB({ name: 'threads' }),
    };
    const version = tables.meta.get('layoutVersion');
    if (version !== undefined && version !== LAYOUT_VERSION) {
      await releaseRoot(this.dataDir);
      throw new Error(
        `embedded storage in ${this.dataDir} has layout version ${String(version)}, this build reads ${LAYOUT_VERSION}`,
      );
    }
    this.root = root;
    this.tables = tables;
    this.attachments.open(root);
    this.revocations.open(root);
    this.moderation.open(root);
    this.mutes.open(root);
    this.homeMoves.open(root);
    this.retention.open(root, tables);
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
    this.attachments.detach();
    this.revocations.detach();
    this.moderation.detach();
    this.mutes.detach();
    this.homeMoves.detach();
    this.retention.detach();
    await releaseRoot(this.dataDir);
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
    await this.durable(
      t.messages.transaction(() => {
        if (message.clientMsgId !== null) {
          const dedupKey = [message.senderId, message.clientMsgId];
          if (!t.dedup.get(dedupKey)) {
            t.dedup.put(dedupKey, {
              conversationId: message.conversationId,
              messageId: message.messageId.toString(),
            });
          }
        }
        // A replica written again over a row an edit or delete already changed keeps that change
        // (and the search terms of its body); otherwise the index follows the body written.
        const key = [message.conversationId, padId(message.messageId)];
        const stored = t.messages.get(key);
        const merged = mergeMessage(stored ? fromRecord(stored) : null, message);
        if (merged !== message && stored) return;
        t.messages.put(key, toRecord(merged));
        if (stored) reindexBody(t.search, merged, stored.body);
        else indexBody(t.search, merged);
      }),
    );
  }

  async applyChange(change: ChangeApply): Promise<StoredMessage | null> {
    assertMessageId(change.targetId);
    const t = this.t();
    const key = [change.conversationId, padId(change.targetId)];
    return this.durable(
      t.messages.transaction((): StoredMessage | null => {
        const existing = t.messages.get(key);
        if (!existing) return null;
        const target = fromRecord(existing);
        const incoming = change.state.deleted
          ? tombstone(target, change.state)
          : { ...target, body: change.body, state: change.state };
        const merged = mergeMessage(target, incoming);
        if (merged === target) return this.withReactions(target);
        t.messages.put(key, toRecord(merged));
        // The search index follows the body in the same transaction (a delete leaves none).
        reindexBody(t.search, merged, target.body);
        if (merged.state?.deleted) this.scrubLate(merged);
        return this.withReactions(merged);
      }),
    );
  }

  async applyReaction(r: ReactionApply): Promise<StoredMessage | null> {
    assertMessageId(r.targetId);
    assertMessageId(r.revision, 'revision');
    const t = this.t();
    return this.durable(
      t.reactions.transaction((): StoredMessage | null => {
        const row = t.messages.get([r.conversationId, padId(r.targetId)]);
        if (!row) return null;
        const key = [r.conversationId, padId(r.targetId), r.emoji, r.userId];
        const cell = t.reactions.get(key);
        // Last writer by revision; same-width decimal strings compare like the ids.
        const rev = padId(r.revision);
        if (!cell || rev > padId(BigInt(cell.rev)))
          t.reactions.put(key, { on: r.on, rev: r.revision.toString() });
        return this.withReactions(fromRecord(row));
      }),
    );
  }

  async addThreadReply(reply: StoredMessage): Promise<StoredMessage | null> {
    const rootId = reply.threadRoot;
    if (rootId === undefined || rootId === null) throw new RangeError('addThreadReply: not a reply');
    assertMessageId(rootId, 'threadRoot');
    assertMessageId(reply.messageId);
    const t = this.t();
    return this.durable(
      t.threads.transaction((): StoredMessage | null => {
        const root = t.messages.get([reply.conversationId, padId(rootId)]);
        if (!root) return null;
        // A key per reply: recording it again changes nothing, so the count never counts twice.
        t.threads.put([reply.conversationId, padId(rootId), padId(reply.messageId)], true);
        return this.withReactions(fromRecord(root));
      }),
    );
  }

  async getThread(conversationId: string, rootId: bigint, query: HistoryQuery): Promise<StoredMessage[]> {
    assertMessageId(rootId, 'rootId');
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0 || before === 0n) return [];
    const t = this.t();
    const prefix = [conversationId, padId(rootId)];
    const range =
      after !== undefined
        ? { start: [...prefix, padId(after + 1n)], end: [...prefix, MAX_KEY], limit }
        : {
            start: before === undefined ? [...prefix, MAX_KEY] : [...prefix, padId(before - 1n)],
            end: prefix,
            reverse: true,
            limit,
          };
    const out: StoredMessage[] = [];
    for (const { key } of t.threads.getRange(range)) {
      const replyId = (key as [string, string, string])[2];
      const row = t.messages.get([conversationId, replyId]);
      if (row) out.push(this.withReactions(fromRecord(row)));
    }
    return out;
  }

  async scrubOffline(userIds: readonly string[], conversationId: string, messageId: bigint): Promise<void> {
    assertMessageId(messageId);
    const t = this.t();
    await this.durable(
      t.offline.transaction(() => {
        const row = t.messages.get([conversationId, padId(messageId)]);
        const state = row?.state;
        for (const userId of unique(userIds)) {
          const key = [userId, padId(messageId)];
          const copy = t.offline.get(key);
          if (!copy) continue;
          const { attachments: _files, ...kept } = copy;
          t.offline.put(key, { ...kept, body: '', ...(state ? { state } : {}) });
        }
      }),
    );
  }

  /**
   * Empties the body of the late index's copies of a deleted message (inside the caller's write
   * transaction). A copy became visible after the message was created, give or take clock skew
   * between gateways, so the read starts a minute before that.
   */
  private scrubLate(m: StoredMessage): void {
    const late = this.t().late;
    const start = [m.conversationId, padTime(Math.max(m.createdAt - 60_000, 0))];
    const id = m.messageId.toString();
    for (const { key, value } of late.getRange({ start, end: [m.conversationId, MAX_KEY] })) {
      if (value.messageId !== id) continue;
      const { visibleAt } = value;
      late.put(key, { ...toRecord(m), visibleAt });
    }
  }

  async getMessage(conversationId: string, messageId: bigint): Promise<StoredMessage | null> {
    assertMessageId(messageId);
    const r = this.t().messages.get([conversationId, padId(messageId)]);
    return r ? this.withReactions(fromRecord(r)) : null;
  }

  /**
   * The message with its reactions (a range read of its registers) and, on a thread root, its
   * thread summary (counted from the thread index at read time), if it has any.
   */
  private withReactions(m: StoredMessage): StoredMessage {
    if (m.change) return m;
    const prefix = [m.conversationId, padId(m.messageId)];
    const thread = this.threadOf(prefix);
    if (thread) m = { ...m, thread };
    let revision: bigint | null = null;
    const cells: Array<[string, string, boolean]> = [];
    for (const { key, value } of this.t().reactions.getRange({ start: prefix, end: [...prefix, MAX_KEY] })) {
      const [, , emoji, userId] = key as [string, string, string, string];
      cells.push([emoji, userId, value.on]);
      const rev = BigInt(value.rev);
      if (revision === null || rev > revision) revision = rev;
    }
    const reactions = reactionsFrom(cells, revision);
    return reactions ? { ...m, reactions } : m;
  }

  /** A root's replies counted from the thread index (keys only), or null when it has none. */
  private threadOf(prefix: string[]): ThreadSummary | null {
    const threads = this.t().threads;
    const range = { start: prefix, end: [...prefix, MAX_KEY] };
    const replyCount = threads.getKeysCount(range);
    if (replyCount === 0) return null;
    let lastReplyId = 0n;
    const newest = { start: [...prefix, MAX_KEY], end: prefix, reverse: true, limit: 1 };
    for (const { key } of threads.getRange(newest))
      lastReplyId = BigInt((key as [string, string, string])[2]);
    return { replyCount, lastReplyId };
  }

  getHistory(conversationId: string, query: HistoryQuery): Promise<StoredMessage[]> {
    return messagesOnly(query, async (q) => this.historyPage(conversationId, q));
  }

  /** One raw page, change records included. */
  private historyPage(conversationId: string, query: HistoryQuery): StoredMessage[] {
    const { before, after, limit } = normaliseHistoryQuery(query);
    if (limit === 0) return [];
    const messages = this.t().messages;
    const out: StoredMessage[] = [];
    if (after !== undefined) {
      // Oldest-first from just above `after`.
      const start = [conversationId, padId(after + 1n)];
      for (const { value } of messages.getRange({ start, end: [conversationId, MAX_KEY], limit })) {
        out.push(this.withReactions(fromRecord(value)));
      }
      return out;
    }
    if (before === 0n) return [];
    // Newest-first; with `reverse` lmdb treats `start` as the inclusive upper bound.
    const start = before === undefined ? [conversationId, MAX_KEY] : [conversationId, padId(before - 1n)];
    for (const { value } of messages.getRange({ start, end: [conversationId], reverse: true, limit })) {
      out.push(this.withReactions(fromRecord(value)));
    }
    return out;
  }

  async searchMessages(query: SearchQuery): Promise<SearchPage> {
    const t = this.t();
    const page = searchIndex(t.search, t.messages, query);
    // With reactions and thread summaries, as the Cassandra store's rows carry them.
    return { ...page, messages: page.messages.map((m) => this.withReactions(m)) };
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
    });
    // The newest message, not change record: the conversation list shows what was said.
    for (const { value } of range) {
      const m = fromRecord(value);
      if (!isChange(m)) return m;
    }
    return null;
  }

  /** Messages after the marker not sent by the user, counted up to UNREAD_CAP. */
  private countUnread(userId: string, conversationId: string, lastReadId: bigint | null): number {
    const start = lastReadId === null ? [conversationId] : [conversationId, padId(lastReadId + 1n)];
    let count = 0;
    for (const { value } of this.t().messages.getRange({ start, end: [conversationId, MAX_KEY] })) {
      if (value.senderId === userId || value.change) continue;
      if (++count >= UNREAD_CAP) break;
    }
    return count;
  }

  private t(): Tables {
    if (!this.tables) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.tables;
  }

  /** `durable` (embedded-durable.ts) on this store's root. */
  private durable<T>(write: Promise<T>): Promise<T> {
    return durable(this.root, write);
  }
}
