/**
 * Moderation storage contract: group roles, bans and user blocks. Two implementations, each part
 * of its `Storage` (`storage.moderation`): Cassandra (`cassandra/moderation.ts`, migration 10) and
 * LMDB (`embedded-moderation.ts`). Both pass `test/moderation.contract.ts`.
 *
 * Every entry is a last-writer-wins register on a `revision` (the snowflake id the gateway minted
 * for the change): a write with a smaller revision than the stored one changes nothing. Regions
 * apply each other's changes in any order (a ban made in one region and an unban in another)
 * and still converge, and applying a change twice is harmless.
 *
 * The owner of a group is its creator (`Conversation.createdBy`) and is never stored here: the
 * roles table holds admins (and members demoted back, as `member`).
 */

/** A stored role; the owner is `createdBy` and has no entry. */
export type StoredRole = 'admin' | 'member';

export interface RoleChange {
  conversationId: string;
  userId: string;
  role: StoredRole;
  /** The change's snowflake id: the larger wins. */
  revision: bigint;
}

export interface BanChange {
  conversationId: string;
  userId: string;
  banned: boolean;
  /** Who banned or unbanned. */
  by: string;
  revision: bigint;
}

export interface BlockChange {
  /** The user who blocks (or unblocks). */
  userId: string;
  /** The user blocked. */
  targetId: string;
  blocked: boolean;
  revision: bigint;
}

/** What moderation a group has: read together, so one read fills the gateway's cache. */
export interface GroupModeration {
  /** Users whose stored role is admin, sorted (whether still members or not). */
  admins: string[];
  /** Users banned, sorted. */
  banned: string[];
}

export interface ModerationStore {
  /** Sets a user's role in a group, unless a change with a larger revision is stored. */
  setRole(change: RoleChange): Promise<void>;
  /** Bans or unbans a user from a group, unless a change with a larger revision is stored. */
  setBan(change: BanChange): Promise<void>;
  /** Blocks or unblocks a user for another, unless a change with a larger revision is stored. */
  setBlock(change: BlockChange): Promise<void>;
  /** The group's admins and bans (both empty for a conversation with none or unknown). */
  getGroup(conversationId: string): Promise<GroupModeration>;
  /** Whom `userId` blocks now, sorted. */
  listBlocked(userId: string): Promise<string[]>;
}
