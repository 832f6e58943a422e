/**
 * The `ModerationStore` on Cassandra (tables in migration 10, `schema.ts`): roles and bans by
 * conversation, blocks by blocking user, one partition each so a gateway fills its cache with
 * one read. Every write carries its change's revision as the cell timestamp
 * (`revisionTimestamp`), so Cassandra's own last-write-wins keeps the larger revision whatever
 * order regions apply in.
 */
import cassandra, { type types } from 'cassandra-driver';
import type { BanChange, BlockChange, GroupModeration, ModerationStore, RoleChange } from '../moderation.ts';
import { text } from './rows.ts';
import type { CqlSession } from './session.ts';

export class CassandraModeration implements ModerationStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async setRole(c: RoleChange): Promise<void> {
    await this.db.client.execute(this.q.setRole, [c.role, c.conversationId, c.userId], {
      timestamp: revisionTimestamp(c.revision),
    });
  }

  async setBan(c: BanChange): Promise<void> {
    await this.db.client.execute(this.q.setBan, [c.banned, c.by, c.conversationId, c.userId], {
      timestamp: revisionTimestamp(c.revision),
    });
  }

  async setBlock(c: BlockChange): Promise<void> {
    await this.db.client.execute(this.q.setBlock, [c.blocked, c.userId, c.targetId], {
      timestamp: revisionTimestamp(c.revision),
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

/**
 * The write timestamp of a change: its snowflake id itself. Not `idTimestamp` (the id's time in
 * µs): two changes minted in the same millisecond map to the same µs there, and Cassandra breaks
 * a timestamp tie by the larger value (a ban over an unban made right after it). The id is
 * unique and ordered; as a timestamp it lies centuries ahead, which only these tables see (every
 * write to them uses it, and no row is ever deleted).
 */
function revisionTimestamp(revision: bigint): types.Long {
  return cassandra.types.Long.fromString(revision.toString());
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
