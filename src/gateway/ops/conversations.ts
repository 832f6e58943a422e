/**
 * Conversation operations (openDirect, createGroup, addMembers, removeMembers,
 * listConversations, history, read) and the membership cache they own: every operation that
 * checks membership or fans out to members reads it here, and every change to members — made
 * here, on another gateway (`invalidate` from the router's control events) or in another region
 * (replication) — drops the cached entry here.
 */
import { ChatError, ErrorCode } from '../../errors.ts';
import {
  directConversationId,
  directParticipants,
  type ParsedRequestOf,
  type ReplyOf,
  type WireConversation,
} from '../../protocol/index.ts';
import type { Conversation } from '../../storage/types.ts';
import type { ConnectionState } from '../connection.ts';
import {
  conversationFrame,
  receiptFrame,
  resultFrame,
  routedEvent,
  toWire,
  wireConversation,
} from '../frames.ts';
import { readRefs } from '../refs.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export interface CachedMembers {
  conversation: Conversation;
  members: Set<string>;
  expiresAt: number;
}

/** Past this many cached conversations the cache starts over rather than grow without bound. */
const MAX_CACHED_CONVERSATIONS = 100_000;

export type ConversationOp =
  | 'openDirect'
  | 'createGroup'
  | 'addMembers'
  | 'removeMembers'
  | 'listConversations'
  | 'history'
  | 'read';

export class Conversations {
  private readonly cache = new Map<string, CachedMembers>();

  constructor(private readonly d: OpsContext) {}

  readonly handlers: HandlersFor<ConversationOp> = {
    openDirect: async (state, f) => {
      const userId = state.conn.userId;
      if (f.userId === userId)
        throw new ChatError(ErrorCode.InvalidField, 'userId: cannot open a conversation with yourself', {
          field: 'userId',
        });
      const c = await this.ensureDirect(directConversationId(userId, f.userId), userId);
      return resultFrame(f.op, f.id, { conversation: wireConversation(c.conversation, c.members) });
    },
    createGroup: async (state, f) =>
      resultFrame(f.op, f.id, {
        conversation: await this.createGroup(state.conn.userId, f.title, f.members),
      }),
    addMembers: async (state, f) =>
      resultFrame(f.op, f.id, { conversation: await this.changeMembers(state.conn.userId, f) }),
    removeMembers: async (state, f) =>
      resultFrame(f.op, f.id, { conversation: await this.changeMembers(state.conn.userId, f) }),
    listConversations: async (state, f) => {
      const list = await this.d.storage.listUserConversations(state.conn.userId);
      const last = list.flatMap((s) => (s.lastMessage ? [s.lastMessage] : []));
      const refs = await readRefs(this.d.storage, last);
      return resultFrame(f.op, f.id, {
        conversations: list.map((s) => ({
          ...s.conversation,
          lastMessage: s.lastMessage ? toWire(s.lastMessage, refs) : null,
          unreadCount: s.unreadCount,
          lastReadId: s.lastReadId?.toString() ?? null,
        })),
      });
    },
    history: async (state, f) => {
      await this.requireMember(f.conversationId, state.conn.userId);
      return this.history(f);
    },
    read: (state, f) => this.read(state, f),
  };

  /** A page of a conversation's history, whoever asks (membership is the caller's check). */
  async history(f: ParsedRequestOf<'history'>): Promise<ReplyOf<'history'>> {
    // One more than asked: whether there is more is whether it came back.
    const query = {
      limit: f.limit + 1,
      ...(f.before !== null ? { before: f.before } : {}),
      ...(f.after !== null ? { after: f.after } : {}),
    };
    const read = await this.d.storage.getHistory(f.conversationId, query);
    const page = read.slice(0, f.limit);
    // A parent on the page is quoted as read with it; only others cost a read.
    const refs = await readRefs(this.d.storage, page, page);
    return resultFrame(f.op, f.id, {
      order: f.after !== null ? 'oldest_first' : 'newest_first',
      messages: page.map((m) => toWire(m, refs)),
      hasMore: read.length > f.limit,
    });
  }

  /** Forgets the cached members of a conversation another gateway or region changed. */
  invalidate(conversationId: string): void {
    this.cache.delete(conversationId);
  }

  /** The conversation's members (none if it does not exist), through the cache. */
  async membersOf(conversationId: string): Promise<string[]> {
    const entry = await this.load(conversationId);
    return entry ? [...entry.members] : [];
  }

  /**
   * The conversation and its members, if the user is one of them; otherwise `not_found`, the
   * same error whether the conversation exists or not, so that nobody learns of conversations
   * they are not in. (`forbidden` is for members asking for something they may not do.)
   */
  async requireMember(conversationId: string, userId: string): Promise<CachedMembers> {
    const entry = await this.load(conversationId);
    if (!entry?.members.has(userId)) {
      throw new ChatError(ErrorCode.NotFound, 'no such conversation', { conversationId });
    }
    return entry;
  }

  /** The conversation and its members, whoever asks (the server API); `not_found` if it does not exist. */
  async requireExisting(conversationId: string): Promise<CachedMembers> {
    const entry = await this.load(conversationId);
    if (!entry) throw new ChatError(ErrorCode.NotFound, 'no such conversation', { conversationId });
    return entry;
  }

  /**
   * `requireMember`, except that a direct conversation one of its two users names is created on
   * first use (`ensureDirect`): what `send` and an attachment upload check.
   */
  async requireParticipant(conversationId: string, userId: string): Promise<CachedMembers> {
    const dm = directParticipants(conversationId);
    return dm && (dm[0] === userId || dm[1] === userId)
      ? this.ensureDirect(conversationId, userId)
      : this.requireMember(conversationId, userId);
  }

  /** The direct conversation between the two users of `conversationId`, created on first use. */
  async ensureDirect(conversationId: string, userId: string): Promise<CachedMembers> {
    const existing = await this.load(conversationId);
    if (existing) return existing;
    const pair = directParticipants(conversationId)!;
    const conversation = await this.d.storage.createConversation(
      { id: conversationId, kind: 'direct', title: null, createdBy: userId, createdAt: Date.now() },
      pair,
    );
    this.cache.delete(conversationId);
    const entry = (await this.load(conversationId)) ?? {
      conversation,
      members: new Set(pair),
      expiresAt: 0,
    };
    const routed = routedEvent(conversationFrame(conversation, entry.members, 'created'));
    this.d.tasks.background(
      'conversation-event',
      this.d.hub.conversationChanged(conversationId, pair, routed),
    );
    return entry;
  }

  private async load(conversationId: string): Promise<CachedMembers | null> {
    const hit = this.cache.get(conversationId);
    if (hit && hit.expiresAt > Date.now()) return hit;
    const conversation = await this.d.storage.getConversation(conversationId);
    if (!conversation) {
      this.cache.delete(conversationId);
      return null;
    }
    const members = new Set(await this.d.storage.listMembers(conversationId));
    const ttl = this.d.limits.membershipCacheMs;
    const entry = { conversation, members, expiresAt: Date.now() + ttl };
    if (ttl > 0) {
      if (this.cache.size > MAX_CACHED_CONVERSATIONS) this.cache.clear();
      this.cache.set(conversationId, entry);
    }
    return entry;
  }

  private async read(state: ConnectionState, f: ParsedRequestOf<'read'>): Promise<ReplyOf<'read'>> {
    const userId = state.conn.userId;
    const entry = await this.requireMember(f.conversationId, userId);
    await this.d.storage.markRead(userId, f.conversationId, f.messageId);
    const receipt = routedEvent(receiptFrame(f.conversationId, userId, f.messageId));
    this.d.tasks.background(
      'receipt',
      this.d.hub.fanOut([...entry.members], receipt, state.conn.connectionId),
    );
    return resultFrame(f.op, f.id, { ok: true });
  }

  private createGroup(userId: string, title: string, invited: string[]): Promise<WireConversation> {
    return this.createGroupAs(userId, title, [userId, ...invited]);
  }

  /**
   * Creates a group of `members` (the server API's creation: `createdBy` need not be one of them).
   * With `id` given, creating it again returns the group as it is (an idempotent retry).
   */
  async createGroupAs(
    createdBy: string,
    title: string,
    memberIds: readonly string[],
    id: string = `g:${this.d.ids.next()}`,
  ): Promise<WireConversation> {
    const members = [...new Set(memberIds)];
    const max = this.d.limits.maxGroupMembers;
    if (members.length > max) {
      throw new ChatError(ErrorCode.InvalidField, `members: at most ${max}`, { field: 'members' });
    }
    const conversation = await this.d.storage.createConversation(
      { id, kind: 'group', title, createdBy, createdAt: Date.now() },
      members,
    );
    const frame = conversationFrame(conversation, members, 'created');
    this.d.tasks.background(
      'conversation-event',
      this.d.hub.conversationChanged(conversation.id, members, routedEvent(frame)),
    );
    return frame.conversation;
  }

  /**
   * An operator's membership change (the server API): any group, any members, no creator check.
   * Adding a member twice or removing a non-member changes nothing, so a retry is harmless.
   */
  adminChangeMembers(f: ParsedRequestOf<'addMembers' | 'removeMembers'>): Promise<WireConversation> {
    return this.changeMembers(null, f);
  }

  /** `userId` null: an operator's change (no membership or creator check). */
  private async changeMembers(
    userId: string | null,
    f: ParsedRequestOf<'addMembers' | 'removeMembers'>,
  ): Promise<WireConversation> {
    // ACL checks below must see the members as stored now, not as cached.
    this.cache.delete(f.conversationId);
    const entry =
      userId === null
        ? await this.requireExisting(f.conversationId)
        : await this.requireMember(f.conversationId, userId);
    if (entry.conversation.kind === 'direct') {
      throw new ChatError(ErrorCode.Forbidden, 'members of a direct conversation cannot change', {
        conversationId: f.conversationId,
      });
    }
    const before = [...entry.members];
    if (f.op === 'addMembers') await this.add(entry, f.conversationId, f.userIds);
    else if (userId === null) await this.d.storage.removeMembers(f.conversationId, f.userIds);
    else await this.remove(entry, f.conversationId, userId, f.userIds);
    this.cache.delete(f.conversationId);
    const after = (await this.load(f.conversationId))!;
    const event = f.op === 'addMembers' ? 'members_added' : 'members_removed';
    const frame = conversationFrame(after.conversation, after.members, event);
    // Everyone before and after hears about it, including the removed.
    const audience = [...new Set([...before, ...after.members])];
    this.d.tasks.background(
      'conversation-event',
      this.d.hub.conversationChanged(f.conversationId, audience, routedEvent(frame)),
    );
    return frame.conversation;
  }

  private async add(entry: CachedMembers, conversationId: string, userIds: string[]): Promise<void> {
    const added = userIds.filter((u) => !entry.members.has(u));
    const max = this.d.limits.maxGroupMembers;
    if (entry.members.size + added.length > max) {
      throw new ChatError(ErrorCode.InvalidField, `userIds: group would exceed ${max}`, { field: 'userIds' });
    }
    if (added.length > 0) await this.d.storage.addMembers(conversationId, added);
  }

  private async remove(
    entry: CachedMembers,
    conversationId: string,
    userId: string,
    userIds: string[],
  ): Promise<void> {
    const others = userIds.filter((u) => u !== userId);
    if (others.length > 0 && entry.conversation.createdBy !== userId) {
      throw new ChatError(ErrorCode.Forbidden, 'only the group creator may remove other members', {
        conversationId,
      });
    }
    await this.d.storage.removeMembers(conversationId, userIds);
  }
}
