/**
 * Moderation operations: `setRole` (the owner makes members admins and back), `ban` / `unban`
 * (admins and the owner keep a user out of a group), `block` / `unblock` / `listBlocks` (a user
 * stops another from writing to them in their DM). The state lives in `storage.moderation`
 * (replicated: every region enforces it); the checks read the membership cache (roles, bans) and
 * the block cache, which every change here invalidates on this gateway and the region's others.
 * docs/architecture.md, "Moderation".
 */
import { ChatError, ErrorCode } from '../../errors.ts';
import { resultFrame } from '../../protocol/index.ts';
import type { StoredRole } from '../../storage/moderation.ts';
import type { ConnectionState } from '../connection.ts';
import type { BlockCache } from './block-cache.ts';
import {
  type CachedMembers,
  type Conversations,
  type MemberRole,
  roleOf,
  wireEntry,
} from './conversations.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export type ModerationOp = 'setRole' | 'ban' | 'unban' | 'block' | 'unblock' | 'listBlocks';

/**
 * Who moderates: a user, checked against their role in the group, or the server API (an
 * operator or the app's backend), which may do anything a group's owner may.
 */
export type Moderator = { kind: 'user'; userId: string } | { kind: 'server'; id: string };

/** A group after a ban or unban, with whom it bans. */
export interface BanOutcome {
  group: CachedMembers;
  banned: string[];
}

export class ModerationOps {
  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
    private readonly blocks: BlockCache,
  ) {}

  readonly handlers: HandlersFor<ModerationOp> = {
    setRole: async (state, f) => {
      const group = await this.setRole(asUser(state), f.conversationId, f.userId, f.role);
      return resultFrame(f.op, f.id, { conversation: wireEntry(group) });
    },
    ban: async (state, f) => {
      const { group, banned } = await this.setBan(asUser(state), f.conversationId, f.userId, true);
      return resultFrame(f.op, f.id, { conversation: wireEntry(group), banned });
    },
    unban: async (state, f) => {
      const { group, banned } = await this.setBan(asUser(state), f.conversationId, f.userId, false);
      return resultFrame(f.op, f.id, { conversation: wireEntry(group), banned });
    },
    block: async (state, f) =>
      resultFrame(f.op, f.id, { blocked: await this.setBlock(state.conn.userId, f.userId, true) }),
    unblock: async (state, f) =>
      resultFrame(f.op, f.id, { blocked: await this.setBlock(state.conn.userId, f.userId, false) }),
    listBlocks: async (state, f) =>
      resultFrame(f.op, f.id, { blocked: await this.d.storage.moderation.listBlocked(state.conn.userId) }),
  };

  /** Makes a member of a group an admin, or an admin a member: the owner (or the server) only. */
  async setRole(
    by: Moderator,
    conversationId: string,
    userId: string,
    role: StoredRole,
  ): Promise<CachedMembers> {
    const entry = await this.group(conversationId, by);
    if (rank(entry, by) !== 'owner') {
      throw new ChatError(ErrorCode.Forbidden, 'only the owner gives or takes roles', { conversationId });
    }
    if (!entry.members.has(userId)) throw notAMember(userId);
    if (roleOf(entry, userId) === 'owner') {
      throw new ChatError(ErrorCode.Forbidden, 'the owner keeps the owner role', { conversationId });
    }
    await this.d.storage.moderation.setRole({ conversationId, userId, role, revision: this.d.ids.next() });
    return this.conversations.announce(entry, 'roles_changed');
  }

  /**
   * Bans (removing them if a member) or unbans a user: admins ban members, only the owner bans
   * admins, nobody bans the owner. A ban is stored before the user is removed: an `addMembers`
   * racing it then sees it.
   */
  async setBan(by: Moderator, conversationId: string, userId: string, banned: boolean): Promise<BanOutcome> {
    const entry = await this.group(conversationId, by);
    const actor = rank(entry, by);
    const target = roleOf(entry, userId);
    if (by.kind === 'user' && userId === by.userId) {
      throw new ChatError(ErrorCode.InvalidField, 'userId: cannot ban yourself', { field: 'userId' });
    }
    if (actor === 'member' || (banned && (target === 'owner' || (target === 'admin' && actor !== 'owner')))) {
      throw new ChatError(
        ErrorCode.Forbidden,
        'admins ban members; only the owner bans admins; nobody the owner',
        { conversationId },
      );
    }
    await this.d.storage.moderation.setBan({
      conversationId,
      userId,
      banned,
      by: by.kind === 'user' ? by.userId : `server:${by.id}`,
      revision: this.d.ids.next(),
    });
    const group =
      banned && entry.members.has(userId)
        ? await this.conversations.removeAndAnnounce(entry, [userId])
        : await this.reloadAndTell(conversationId);
    return { group, banned: [...group.banned].sort() };
  }

  /** Blocks or unblocks `targetId` for `userId`; resolves with whom `userId` blocks now. */
  async setBlock(userId: string, targetId: string, blocked: boolean): Promise<string[]> {
    if (targetId === userId) {
      throw new ChatError(ErrorCode.InvalidField, 'userId: cannot block yourself', { field: 'userId' });
    }
    await this.d.storage.moderation.setBlock({ userId, targetId, blocked, revision: this.d.ids.next() });
    this.blocks.invalidate(userId);
    await this.d.hub.blocksChanged(userId);
    return this.d.storage.moderation.listBlocked(userId);
  }

  /**
   * The group as stored now, for an ACL check: a user must be a member (`not_found` otherwise);
   * `forbidden` for a DM (it has no roles).
   */
  private async group(conversationId: string, by: Moderator): Promise<CachedMembers> {
    const entry =
      by.kind === 'user'
        ? await this.conversations.requireFresh(conversationId, by.userId)
        : await this.conversations.reload(conversationId);
    if (!entry) throw new ChatError(ErrorCode.NotFound, 'no such conversation', { conversationId });
    if (entry.conversation.kind !== 'group') {
      throw new ChatError(ErrorCode.Forbidden, 'a direct conversation has no roles or bans', {
        conversationId,
      });
    }
    return entry;
  }
  /** Reloads a group whose bans changed (no member did) and drops the region's cached copies. */
  private async reloadAndTell(conversationId: string): Promise<CachedMembers> {
    const after = await this.conversations.reload(conversationId);
    if (!after) throw new ChatError(ErrorCode.NotFound, 'no such conversation', { conversationId });
    await this.d.hub.membersChanged(conversationId);
    return after;
  }
}

/** The moderator's standing in the group: the server stands as its owner. */
function rank(entry: CachedMembers, by: Moderator): MemberRole {
  return by.kind === 'server' ? 'owner' : roleOf(entry, by.userId);
}

function asUser(state: ConnectionState): Moderator {
  return { kind: 'user', userId: state.conn.userId };
}

function notAMember(userId: string): ChatError {
  return new ChatError(ErrorCode.InvalidField, 'userId: not a member of the group', {
    field: 'userId',
    userId,
  });
}
