/**
 * The `ModerationStore` of the embedded (LMDB) store, in the same environment as its messages.
 * Three tables keyed [conversation, user] (roles, bans) and [blocker, blocked] (blocks); each
 * value carries its revision, compared inside the write transaction (LMDB runs one at a time),
 * so a stale change never overwrites a newer one. Writes resolve once committed and flushed.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { durable } from './embedded-durable.ts';
import { MAX_KEY, padId } from './embedded-keys.ts';
import type {
  BanChange,
  BlockChange,
  GroupModeration,
  ModerationStore,
  RoleChange,
  StoredRole,
} from './moderation.ts';

/** Revisions as fixed-width strings: lmdb reads small bigints back as numbers. */
interface Versioned {
  revision: string;
}
interface RoleRow extends Versioned {
  role: StoredRole;
}
interface BanRow extends Versioned {
  banned: boolean;
  by: string;
}
interface BlockRow extends Versioned {
  blocked: boolean;
}

interface ModerationTables {
  roles: Database<RoleRow, Key>;
  bans: Database<BanRow, Key>;
  blocks: Database<BlockRow, Key>;
}

export class EmbeddedModeration implements ModerationStore {
  private root: RootDatabase | null = null;
  private tables: ModerationTables | null = null;

  /** Opens the tables in the store's environment (`EmbeddedStorage.init`). */
  open(root: RootDatabase): void {
    this.root = root;
    this.tables = {
      roles: root.openDB({ name: 'moderation_roles' }),
      bans: root.openDB({ name: 'moderation_bans' }),
      blocks: root.openDB({ name: 'moderation_blocks' }),
    };
  }

  /** Forgets the environment (`EmbeddedStorage.close` closes it). */
  detach(): void {
    this.root = null;
    this.tables = null;
  }

  setRole(c: RoleChange): Promise<void> {
    return this.putNewer(this.t().roles, [c.conversationId, c.userId], {
      role: c.role,
      revision: padId(c.revision),
    });
  }

  setBan(c: BanChange): Promise<void> {
    return this.putNewer(this.t().bans, [c.conversationId, c.userId], {
      banned: c.banned,
      by: c.by,
      revision: padId(c.revision),
    });
  }

  setBlock(c: BlockChange): Promise<void> {
    return this.putNewer(this.t().blocks, [c.userId, c.targetId], {
      blocked: c.blocked,
      revision: padId(c.revision),
    });
  }

  async getGroup(conversationId: string): Promise<GroupModeration> {
    const t = this.t();
    const range = { start: [conversationId], end: [conversationId, MAX_KEY] };
    const admins: string[] = [];
    for (const { key, value } of t.roles.getRange(range)) {
      if (value.role === 'admin') admins.push(userOf(key));
    }
    const banned: string[] = [];
    for (const { key, value } of t.bans.getRange(range)) if (value.banned) banned.push(userOf(key));
    return { admins: admins.sort(), banned: banned.sort() };
  }

  async listBlocked(userId: string): Promise<string[]> {
    const out: string[] = [];
    for (const { key, value } of this.t().blocks.getRange({ start: [userId], end: [userId, MAX_KEY] })) {
      if (value.blocked) out.push(userOf(key));
    }
    return out.sort();
  }

  /** Writes `row` unless the stored row has a larger revision (equal: same change, rewritten). */
  private async putNewer<R extends Versioned>(db: Database<R, Key>, key: Key, row: R): Promise<void> {
    await durable(
      this.root,
      db.transaction(() => {
        const stored = db.get(key);
        if (stored && stored.revision > row.revision) return;
        db.put(key, row);
      }),
    );
  }

  private t(): ModerationTables {
    if (!this.tables) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.tables;
  }
}

/** The second part of a [scope, user] key. */
function userOf(key: Key): string {
  return String((key as unknown[])[1]);
}
