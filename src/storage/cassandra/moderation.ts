/**
 * The `ModerationStore` on Cassandra (tables in migration 10, `schema.ts`): roles and bans by
 * conversation, blocks by blocking user, one partition each so a gateway fills its cache with
 * one read. Every write carries its change's revision as the cell timestamp (`idTimestamp`), so
 * Cassandra's own last-write-wins keeps the larger revision whatever order regions apply in.
 */
import type { types } from 'cassandra-driver';
import type { BanChange, BlockChange, GroupModeration, ModerationStore, RoleChange } from '../moderation.ts';
import { idTimestamp, text } from './rows.ts';
import type { CqlSession } from './session.ts';

export class CassandraModeration implements ModerationStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async setRole(c: RoleChange): Promise<void> {
    await this.db.client.execute(this.q.setRole, [c.role, c.conversationId, c.userId], {
      timestamp: idTimestamp(c.revision),
    });
  }

  async setBan(c: BanChange): Promise<void> {
    await this.db.client.execute(this.q.setBan, [c.banned, c.by, c.conversationId, c.userId], {
      timestamp: idTimestamp(c.revision),
    });
  }

  async setBlock(c: BlockChange): Promise<void> {
    await this.db.client.execute(this.q.setBlock, [c.blocked, c.userId, c.targetId], {
      timestamp: idTimestamp(c.revision),
    });
  }

  async getGroup(conversationId: string): Promise<GroupModeration> {
    const [roles, bans] = await Promise.all([
      this.db.client.execute(this.q.selectRoles, [conversationId]),
      this.db.client.execute(this.q.selectBans, [conversationId]),
    ]);
    return {
      admins: users(roles.rows, (r) => r.get('role') === 'admin'),
      banned: users(bans.rows, (r) => r.get('banned') === true),
    };
  }

  async listBlocked(userId: string): Promise<string[]> {
    const rs = await this.db.client.execute(this.q.selectBlocks, [userId]);
    return rs.rows.filter((r) => r.get('blocked') === true).map((r) => text(r, 'target_id'));
  }
}

/** The `user_id` of the rows that pass, sorted (a partition of a few hundred rows at most). */
function users(rows: types.Row[], keep: (row: types.Row) => boolean): string[] {
  return rows
    .filter(keep)
    .map((r) => text(r, 'user_id'))
    .sort();
}

function statements(ks: string) {
  return {
    setRole: `UPDATE ${ks}.conversation_roles SET role = ? WHERE conversation_id = ? AND user_id = ?`,
    setBan: `UPDATE ${ks}.conversation_bans SET banned = ?, banned_by = ? WHERE conversation_id = ? AND user_id = ?`,
    setBlock: `UPDATE ${ks}.user_blocks SET blocked = ? WHERE user_id = ? AND target_id = ?`,
    selectRoles: `SELECT user_id, role FROM ${ks}.conversation_roles WHERE conversation_id = ?`,
    selectBans: `SELECT user_id, banned FROM ${ks}.conversation_bans WHERE conversation_id = ?`,
    selectBlocks: `SELECT target_id, blocked FROM ${ks}.user_blocks WHERE user_id = ?`,
  } as const;
}
