/**
 * Retention and erasure on the embedded (LMDB) store (`storage.retention`, see `retention.ts`).
 * LMDB has no TTLs: what expires is removed by the sweeper calling `expireConversation`. Every
 * removal of a message takes, in one write transaction, its row, search postings, reaction
 * registers, thread index rows, late-index and offline copies, dedup record and attachments.
 *
 * Finding a user's messages for an erasure is a scan of every stored message: an erasure is a rare
 * operator action, and an index by sender would cost a write on every message sent.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { searchTerms } from '../protocol/search.ts';
import type { AttachmentMeta } from './attachments.ts';
import { fromRecord, type MessageRecord, unique } from './common.ts';
import { durable } from './embedded-durable.ts';
import { MAX_KEY, padId, padTime } from './embedded-keys.ts';
import type { LateTable } from './embedded-late.ts';
import {
  assertRetentionSeconds,
  type ConversationPage,
  type EraseOptions,
  type ErasureRecord,
  type RemovalReport,
  ReportBuilder,
  type RetentionStore,
} from './retention.ts';
import type { StoredMessage } from './types.ts';

/** The store's tables a removal touches (opened by `EmbeddedStorage`). */
export interface RetentionTables {
  conversations: Database<unknown, string>;
  members: Database<true, Key>;
  messages: Database<MessageRecord, Key>;
  dedup: Database<{ conversationId: string; messageId: string }, Key>;
  offline: Database<MessageRecord, Key>;
  late: LateTable;
  search: Database<true, Key>;
  reactions: Database<unknown, Key>;
  threads: Database<true, Key>;
}

interface RetentionSetting {
  seconds: number | null;
  at: number;
}

/** Messages removed per write transaction: keeps each commit (and the writer lock) short. */
const REMOVE_BATCH = 200;
/** How often (rows scanned) an erasure reports progress. */
const PROGRESS_EVERY = 1000;
/** Late-index copies became visible after the message was created, give or take clock skew. */
const LATE_SKEW_MS = 60_000;

export class EmbeddedRetention implements RetentionStore {
  private root: RootDatabase | null = null;
  private tables: RetentionTables | null = null;
  private own: {
    settings: Database<RetentionSetting, string>;
    erasures: Database<ErasureRecord, Key>;
    attachments: Database<AttachmentMeta, string>;
    chunks: Database<Uint8Array, Key>;
  } | null = null;

  /** Opens its tables in the store's environment (`EmbeddedStorage.init`). */
  open(root: RootDatabase, tables: RetentionTables): void {
    this.root = root;
    this.tables = tables;
    this.own = {
      settings: root.openDB({ name: 'retention' }),
      erasures: root.openDB({ name: 'erasures' }),
      // The attachment store's tables (embedded-attachments.ts), opened again by name.
      attachments: root.openDB({ name: 'attachments' }),
      chunks: root.openDB({ name: 'attachment_chunks', encoding: 'binary' }),
    };
  }

  detach(): void {
    this.root = null;
    this.tables = null;
    this.own = null;
  }

  async setConversationRetention(conversationId: string, seconds: number | null, at: number): Promise<void> {
    assertRetentionSeconds(seconds);
    const { settings } = this.o();
    if (!this.t().conversations.doesExist(conversationId)) {
      throw new RangeError(`conversation ${conversationId} is not stored here`);
    }
    await this.durable(
      settings.transaction(() => {
        const current = settings.get(conversationId);
        if (current && current.at > at) return;
        settings.put(conversationId, { seconds, at });
      }),
    );
  }

  async getConversationRetention(conversationId: string): Promise<number | null> {
    return this.o().settings.get(conversationId)?.seconds ?? null;
  }

  async listConversations(after: string | null, limit: number): Promise<ConversationPage> {
    const n = Math.max(1, Math.floor(limit));
    const ids: string[] = [];
    const range = after === null ? { limit: n + 1 } : { start: after, limit: n + 2 };
    for (const key of this.t().conversations.getKeys(range)) {
      if (key === after) continue;
      ids.push(String(key));
    }
    const page = ids.slice(0, n);
    return { conversationIds: page, next: ids.length > n ? (page[page.length - 1] ?? null) : null };
  }

  async expireConversation(conversationId: string, before: number): Promise<RemovalReport> {
    const t = this.t();
    const report = new ReportBuilder();
    const members = [...t.members.getKeys({ start: [conversationId], end: [conversationId, MAX_KEY] })].map(
      (k) => String((k as Key[])[1]),
    );
    for (;;) {
      // Oldest first; ids grow with creation time, so the first newer message ends the walk.
      const batch: StoredMessage[] = [];
      for (const { value } of t.messages.getRange({
        start: [conversationId],
        end: [conversationId, MAX_KEY],
        limit: REMOVE_BATCH,
      })) {
        if (value.createdAt >= before) break;
        batch.push(fromRecord(value));
      }
      if (batch.length === 0) break;
      await this.durable(
        t.messages.transaction(() => {
          for (const m of batch) {
            this.removeMessage(m, report);
            for (const userId of members) {
              if (t.offline.removeSync([userId, padId(m.messageId)])) report.count('offline');
            }
          }
        }),
      );
      if (batch.length < REMOVE_BATCH) break;
    }
    // Late copies of messages already gone (the late index is by visibility time, not creation).
    await this.durable(
      t.late.transaction(() => {
        const range = t.late.getRange({
          start: [conversationId],
          end: [conversationId, padTime(before + LATE_SKEW_MS)],
        });
        for (const { key, value } of [...range]) {
          if (value.createdAt < before && t.late.removeSync(key)) report.count('late');
        }
      }),
    );
    return report.build();
  }

  async eraseUser(userId: string, opts: EraseOptions = {}): Promise<RemovalReport> {
    const t = this.t();
    const report = new ReportBuilder();
    let scanned = 0;
    const tell = () => opts.progress?.({ scanned, removed: report.removed });
    // Pass 1: the user's messages (and change records), in every conversation.
    const mine: StoredMessage[] = [];
    for (const { value } of t.messages.getRange({})) {
      if (++scanned % PROGRESS_EVERY === 0) tell();
      if (value.senderId === userId) mine.push(fromRecord(value));
    }
    // Pass 2: others' change records (edits, deletes, reactions) that target those messages.
    const erased = new Set(mine.map((m) => m.messageId.toString()));
    const targets: StoredMessage[] = [];
    for (const conversationId of unique(mine.map((m) => m.conversationId))) {
      for (const { value } of t.messages.getRange({
        start: [conversationId],
        end: [conversationId, MAX_KEY],
      })) {
        scanned++;
        if (value.change && value.senderId !== userId && erased.has(value.change.targetId))
          targets.push(fromRecord(value));
      }
    }
    const all = [...mine, ...targets];
    const gone = new Set(all.map((m) => m.messageId.toString()));
    for (let i = 0; i < all.length; i += REMOVE_BATCH) {
      const batch = all.slice(i, i + REMOVE_BATCH);
      await this.durable(
        t.messages.transaction(() => {
          for (const m of batch) {
            opts.removed?.(m);
            this.removeMessage(m, report);
          }
        }),
      );
      tell();
    }
    // The user's reactions on messages that stay: their (emoji, user) registers.
    await this.durable(
      t.reactions.transaction(() => {
        for (const m of mine) {
          const c = m.change;
          if (!c || (c.kind !== 'react' && c.kind !== 'unreact') || c.emoji === undefined) continue;
          if (gone.has(c.targetId.toString())) continue;
          const key = [m.conversationId, padId(c.targetId), c.emoji, userId];
          if (t.reactions.removeSync(key)) report.count('reactions');
        }
      }),
    );
    // Copies queued for any user (members who left included): a scan of the offline queues.
    const copies: Key[] = [];
    for (const { key, value } of t.offline.getRange({})) {
      scanned++;
      if (gone.has(value.messageId)) copies.push(key);
    }
    await this.durable(
      t.offline.transaction(() => {
        for (const key of copies) if (t.offline.removeSync(key)) report.count('offline');
      }),
    );
    tell();
    return report.build();
  }

  async putErasure(record: ErasureRecord): Promise<void> {
    await this.durable(this.o().erasures.put([record.requestId, record.region], record));
  }

  async getErasures(requestId: string): Promise<ErasureRecord[]> {
    const out: ErasureRecord[] = [];
    for (const { value } of this.o().erasures.getRange({ start: [requestId], end: [requestId, MAX_KEY] })) {
      out.push(value);
    }
    return out;
  }

  async listErasures(): Promise<ErasureRecord[]> {
    return [...this.o().erasures.getRange({})].map(({ value }) => value);
  }

  /** Removes one message and everything derived from it but offline copies. Inside a write transaction. */
  private removeMessage(m: StoredMessage, report: ReportBuilder): void {
    const t = this.t();
    const { attachments, chunks } = this.o();
    const conv = m.conversationId;
    const id = padId(m.messageId);
    if (!t.messages.removeSync([conv, id])) return;
    report.count('messages');
    report.message(m.messageId);
    // The stored body's postings (an edit rewrote them to the current body, which this is).
    for (const term of searchTerms(m.body)) {
      if (t.search.removeSync([conv, term, id])) report.count('search');
    }
    for (const key of [...t.reactions.getKeys({ start: [conv, id], end: [conv, id, MAX_KEY] })]) {
      if (t.reactions.removeSync(key)) report.count('reactions');
    }
    // As a root: its whole thread index; as a reply: its row in its root's.
    for (const key of [...t.threads.getKeys({ start: [conv, id], end: [conv, id, MAX_KEY] })]) {
      if (t.threads.removeSync(key)) report.count('threads');
    }
    if (m.threadRoot !== undefined && m.threadRoot !== null) {
      if (t.threads.removeSync([conv, padId(m.threadRoot), id])) report.count('threads');
    }
    const idText = m.messageId.toString();
    const late = t.late.getRange({
      start: [conv, padTime(Math.max(m.createdAt - LATE_SKEW_MS, 0))],
      end: [conv, MAX_KEY],
    });
    for (const { key, value } of [...late]) {
      if (value.messageId === idText && t.late.removeSync(key)) report.count('late');
    }
    if (m.clientMsgId !== null) {
      const key = [m.senderId, m.clientMsgId];
      if (t.dedup.get(key)?.messageId === idText && t.dedup.removeSync(key)) report.count('dedup');
    }
    for (const ref of m.attachments ?? []) {
      if (attachments.removeSync(ref.id)) report.count('attachments');
      for (const key of [...chunks.getKeys({ start: [ref.id], end: [ref.id, MAX_KEY] })]) {
        if (chunks.removeSync(key)) report.count('attachment_chunks');
      }
      report.attachment(ref.id);
    }
  }

  private t(): RetentionTables {
    if (!this.tables) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.tables;
  }

  private o(): NonNullable<EmbeddedRetention['own']> {
    if (!this.own) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.own;
  }

  private durable<T>(write: Promise<T>): Promise<T> {
    return durable(this.root, write);
  }
}
