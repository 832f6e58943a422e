/**
 * Conversations and their members: the `conversations` row (created once, by lightweight
 * transaction) and the two membership tables, `members_by_conversation` and
 * `conversations_by_user`, always written together in a logged batch.
 */
import { EPOCH_MS } from '../../util/snowflake.ts';
import { unique } from '../common.ts';
import type { Conversation } from '../types.ts';
import { rowToConversation, text } from './rows.ts';
import type { CqlSession } from './session.ts';

/** Conversation creation times kept in memory per process. */
const CREATED_AT_CACHE_MAX = 100_000;

export class ConversationStore {
  /** Conversation creation times never change: cache them to bound history walks without a read. */
  private readonly createdAt = new Map<string, number>();
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async createConversation(conv: Conversation, members: readonly string[]): Promise<Conversation> {
    const initial = unique(members);
    const rs = await this.db.client.execute(this.q.insertIfAbsent, [
      conv.id,
      conv.kind,
      conv.title,
      conv.createdBy,
      new Date(conv.createdAt),
      initial,
    ]);
    if (rs.wasApplied()) {
      await this.finishCreate(conv.id, initial);
      this.rememberCreatedAt(conv.id, conv.createdAt);
      return { ...conv };
    }
    const row = rs.first();
    const existing = rowToConversation(row);
    // A creator that died between the conversation row and its member rows left
    // members_ready = false: finish its job with the members it recorded.
    if (row.get('members_ready') !== true) {
      const recorded: unknown = row.get('initial_members');
      await this.finishCreate(conv.id, Array.isArray(recorded) ? (recorded as string[]) : []);
    }
    return existing;
  }

  async getConversation(id: string): Promise<Conversation | null> {
    const rs = await this.db.client.execute(this.q.select, [id]);
    const row = rs.first();
    if (!row || row.get('kind') === null) return null;
    const conversation = rowToConversation(row);
    this.rememberCreatedAt(id, conversation.createdAt);
    return conversation;
  }

  /** When the conversation was created (cached); the snowflake epoch for an unknown one. */
  async createdAtOf(conversationId: string): Promise<number> {
    return (
      this.createdAt.get(conversationId) ??
      (await this.getConversation(conversationId))?.createdAt ??
      EPOCH_MS
    );
  }

  async addMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    const users = unique(userIds);
    if (users.length === 0) return;
    // Logged batch: the two membership tables must not disagree if we crash mid-way.
    const queries = users.flatMap((userId) => [
      { query: this.q.insertMember, params: [conversationId, userId] },
      { query: this.q.insertUserConversation, params: [userId, conversationId] },
    ]);
    await this.db.client.batch(queries, { prepare: true, logged: true });
  }

  async removeMembers(conversationId: string, userIds: readonly string[]): Promise<void> {
    const users = unique(userIds);
    if (users.length === 0) return;
    const queries = users.flatMap((userId) => [
      { query: this.q.deleteMember, params: [conversationId, userId] },
      { query: this.q.deleteUserConversation, params: [userId, conversationId] },
    ]);
    await this.db.client.batch(queries, { prepare: true, logged: true });
  }

  async listMembers(conversationId: string): Promise<string[]> {
    const rows = await this.db.selectAll(this.q.selectMembers, [conversationId]);
    return rows.map((row) => text(row, 'user_id'));
  }

  async isMember(conversationId: string, userId: string): Promise<boolean> {
    const rs = await this.db.client.execute(this.q.selectMember, [conversationId, userId]);
    return rs.rowLength > 0;
  }

  async listUserConversationIds(userId: string): Promise<string[]> {
    const rows = await this.db.selectAll(this.q.selectUserConversations, [userId]);
    return rows.map((row) => text(row, 'conversation_id'));
  }

  private async finishCreate(conversationId: string, members: string[]): Promise<void> {
    await this.addMembers(conversationId, members);
    // Conditional so it is ordered by Paxos after the IF NOT EXISTS insert: a plain write with a
    // client timestamp could lose to the insert's ballot timestamp under clock skew.
    await this.db.client.execute(this.q.markMembersReady, [conversationId]);
  }

  private rememberCreatedAt(conversationId: string, createdAt: number): void {
    // Crude bound on memory: a miss only costs one conversation read.
    if (this.createdAt.size >= CREATED_AT_CACHE_MAX) this.createdAt.clear();
    this.createdAt.set(conversationId, createdAt);
  }
}

function statements(ks: string) {
  return {
    insertIfAbsent: `INSERT INTO ${ks}.conversations
         (conversation_id, kind, title, created_by, created_at, initial_members, members_ready)
       VALUES (?, ?, ?, ?, ?, ?, false) IF NOT EXISTS`,
    markMembersReady: `UPDATE ${ks}.conversations SET members_ready = true WHERE conversation_id = ? IF EXISTS`,
    select: `SELECT conversation_id, kind, title, created_by, created_at FROM ${ks}.conversations
       WHERE conversation_id = ?`,
    insertMember: `INSERT INTO ${ks}.members_by_conversation (conversation_id, user_id) VALUES (?, ?)`,
    insertUserConversation: `INSERT INTO ${ks}.conversations_by_user (user_id, conversation_id) VALUES (?, ?)`,
    deleteMember: `DELETE FROM ${ks}.members_by_conversation WHERE conversation_id = ? AND user_id = ?`,
    deleteUserConversation: `DELETE FROM ${ks}.conversations_by_user WHERE user_id = ? AND conversation_id = ?`,
    selectMembers: `SELECT user_id FROM ${ks}.members_by_conversation WHERE conversation_id = ?`,
    selectMember: `SELECT user_id FROM ${ks}.members_by_conversation WHERE conversation_id = ? AND user_id = ?`,
    selectUserConversations: `SELECT conversation_id FROM ${ks}.conversations_by_user WHERE user_id = ?`,
  } as const;
}
