/**
 * Conversation operations (openDirect, createGroup, addMembers, removeMembers,
 * listConversations, history, read) and the membership cache they own: every operation that
 * checks membership or fans out to members reads it here, and every change to members — made
 * here, on another gateway (`invalidate` from the router's control events) or in another region
 * (replication) — drops the cached entry here. A group's entry holds its admins and bans too
 * (`moderation.ts` changes them and invalidates the same way), so role checks cost no read.
 */
import { ChatError, ErrorCode } from '../../errors.ts';
import {
  type ConversationFrame,
  directConversationId,
  directParticipants,
  type ParsedRequestOf,
  type ReplyOf,
  type WireConversation,
} from '../../protocol/index.ts';
import type { GroupModeration } from '../../storage/moderation.ts';
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
import type { BlockCache } from './block-cache.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export interface CachedMembers {
  conversation: Conversation;
  members: Set<string>;
  /** Users whose stored role is admin (only members count: `roleOf`). Empty for a DM. */
  admins: ReadonlySet<string>;
  /** Users banned from the group. Empty for a DM. */
  banned: ReadonlySet<string>;
  expiresAt: number;
}

/** A user's role in a conversation: a group's creator owns it; DMs have members only. */
export type MemberRole = 'owner' | 'admin' | 'member';

export function roleOf(entry: CachedMembers, userId: string): MemberRole {
  if (entry.conversation.kind !== 'group' || !entry.members.has(userId)) return 'member';
  if (entry.conversation.createdBy === userId) return 'owner';
  return entry.admins.has(userId) ? 'admin' : 'member';
}

/** The conversation as the wire shows it: admins are the members with the admin role. */
export function wireEntry(entry: CachedMembers): WireConversation {
  return wireConversation(entry.conversation, entry.members, adminsOf(entry));
}

/** `conversation` frame of an entry. */
export function entryFrame(entry: CachedMembers, event: ConversationFrame['event']): ConversationFrame {
  return conversationFrame(entry.conversation, entry.members, event, adminsOf(entry));
}

export function adminsOf(entry: CachedMembers): string[] {
  return [...entry.admins].filter((u) => roleOf(entry, u) === 'admin');
}

const NO_MODERATION: GroupModeration = { admins: [], banned: [] };

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

  constructor(
    private readonly d: OpsContext,
    private readonly blocks: BlockCache,
  ) {}

  readonly handlers: HandlersFor<ConversationOp> = {
    openDirect: async (state, f) => {
      const userId = state.conn.userId;
      if (f.userId === userId)
        throw new ChatError(ErrorCode.InvalidField, 'userId: cannot open a conversation with yourself', {
          field: 'userId',
        });
      const c = await this.ensureDirect(directConversationId(userId, f.userId), userId);
      return resultFrame(f.op, f.id, { conversation: wireEntry(c) });
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

  /**
   * `requireParticipant` for writing to the conversation (`send`, an attachment upload): in a
   * direct conversation, refused with `blocked` while the other user blocks this one.
   */
  async requireSender(conversationId: string, userId: string): Promise<CachedMembers> {
    const entry = await this.requireParticipant(conversationId, userId);
    await this.requireUnblocked(entry, userId);
    return entry;
  }

  /** The conversation as stored now (the cache dropped first): what changes check ACLs against. */
  async requireFresh(conversationId: string, userId: string): Promise<CachedMembers> {
    this.cache.delete(conversationId);
    return this.requireMember(conversationId, userId);
  }

  /** The conversation as stored now, or null; the cache refilled. */
  async reload(conversationId: string): Promise<CachedMembers | null> {
    this.cache.delete(conversationId);
    return this.load(conversationId);
  }

  /**
   * Removes users from a group and announces it (everyone before and after hears, the removed
   * included). A removed admin loses the role, so adding them back makes them a member. Resolves
   * with the group as it is after.
   */
  async removeAndAnnounce(entry: CachedMembers, userIds: readonly string[]): Promise<CachedMembers> {
    const conversationId = entry.conversation.id;
    if (userIds.length > 0) await this.d.storage.removeMembers(conversationId, userIds);
    for (const u of userIds) {
      if (entry.admins.has(u)) {
        await this.d.storage.moderation.setRole({
          conversationId,
          userId: u,
          role: 'member',
          revision: this.d.ids.next(),
        });
      }
    }
    return this.announce(entry, 'members_removed');
  }

  /**
   * Reloads the conversation after a change and tells the region's gateways and the audience
   * (everyone before and after the change). Resolves with the reloaded entry.
   */
  async announce(before: CachedMembers, event: ConversationFrame['event']): Promise<CachedMembers> {
    const conversationId = before.conversation.id;
    const after = (await this.reload(conversationId))!;
    const frame = entryFrame(after, event);
    const audience = [...new Set([...before.members, ...after.members])];
    this.d.tasks.background(
      'conversation-event',
      this.d.hub.conversationChanged(conversationId, audience, routedEvent(frame)),
    );
    return after;
  }

  /**
   * For a change to the conversation's content (an edit, a reaction) by one of its users: in a
   * direct conversation, refused with `blocked` while the other user blocks this one.
   */
  async requireUnblocked(entry: CachedMembers, userId: string): Promise<void> {
    if (entry.conversation.kind === 'direct') await this.refuseIfBlocked(entry.conversation.id, userId);
  }

  private async refuseIfBlocked(conversationId: string, userId: string): Promise<void> {
    const pair = directParticipants(conversationId)!;
    const other = pair[0] === userId ? pair[1] : pair[0];
    if (await this.blocks.blocks(other, userId)) {
      throw new ChatError(ErrorCode.Blocked, 'the other user blocks you', { conversationId });
    }
  }

  /** The direct conversation between the two users of `conversationId`, created on first use. */
  async ensureDirect(conversationId: string, userId: string): Promise<CachedMembers> {
    const existing = await this.load(conversationId);
    if (existing) return existing;
    // A new DM with someone who blocks the caller is refused; an existing one stays readable.
    await this.refuseIfBlocked(conversationId, userId);
    const pair = directParticipants(conversationId)!;
    const conversation = await this.d.storage.createConversation(
      { id: conversationId, kind: 'direct', title: null, createdBy: userId, createdAt: Date.now() },
      pair,
    );
    this.cache.delete(conversationId);
    const entry = (await this.load(conversationId)) ?? {
      conversation,
      members: new Set(pair),
      admins: new Set<string>(),
      banned: new Set<string>(),
      expiresAt: 0,
    };
    const routed = routedEvent(entryFrame(entry, 'created'));
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
    const [list, mod] = await Promise.all([
      this.d.storage.listMembers(conversationId),
      conversation.kind === 'group' ? this.d.storage.moderation.getGroup(conversationId) : NO_MODERATION,
    ]);
    const ttl = this.d.limits.membershipCacheMs;
    const entry: CachedMembers = {
      conversation,
      members: new Set(list),
      admins: new Set(mod.admins),
      banned: new Set(mod.banned),
      expiresAt: Date.now() + ttl,
    };
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
    const frame = conversationFrame(conversation, members, 'created', []);
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
    if (userId === null) this.cache.delete(f.conversationId);
    const entry =
      userId === null
        ? await this.requireExisting(f.conversationId)
        : await this.requireFresh(f.conversationId, userId);
    if (entry.conversation.kind === 'direct') {
      throw new ChatError(ErrorCode.Forbidden, 'members of a direct conversation cannot change', {
        conversationId: f.conversationId,
      });
    }
    if (f.op === 'addMembers') {
      await this.add(entry, f.conversationId, f.userIds);
      return wireEntry(await this.announce(entry, 'members_added'));
    }
    const removed = f.userIds.filter((u) => entry.members.has(u));
    // An operator (no user) may remove anyone; a member only as their role allows.
    if (userId !== null) checkRemove(entry, userId, removed);
    return wireEntry(await this.removeAndAnnounce(entry, removed));
  }

  private async add(entry: CachedMembers, conversationId: string, userIds: string[]): Promise<void> {
    const added = userIds.filter((u) => !entry.members.has(u));
    const banned = added.find((u) => entry.banned.has(u));
    if (banned !== undefined) {
      throw new ChatError(ErrorCode.Banned, 'the user is banned from this group', {
        conversationId,
        userId: banned,
      });
    }
    const max = this.d.limits.maxGroupMembers;
    if (entry.members.size + added.length > max) {
      throw new ChatError(ErrorCode.InvalidField, `userIds: group would exceed ${max}`, { field: 'userIds' });
    }
    if (added.length > 0) await this.d.storage.addMembers(conversationId, added);
  }
}

/**
 * Who may remove whom: anyone may leave; the owner and admins remove members; only the owner
 * removes admins; nobody removes the owner.
 */
function checkRemove(entry: CachedMembers, actor: string, removed: readonly string[]): void {
  const conversationId = entry.conversation.id;
  const actorRole = roleOf(entry, actor);
  for (const u of removed) {
    if (u === actor && actorRole !== 'owner') continue;
    const role = roleOf(entry, u);
    if (role === 'owner') {
      throw new ChatError(ErrorCode.Forbidden, 'nobody removes the owner of a group', { conversationId });
    }
    if (actorRole === 'member' || (role === 'admin' && actorRole !== 'owner')) {
      throw new ChatError(ErrorCode.Forbidden, 'only the owner removes admins, and admins members', {
        conversationId,
      });
    }
  }
}
