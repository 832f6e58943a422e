/**
 * The `MuteStore` on Cassandra (migration 9, `schema.ts`): `conversation_mutes` by conversation
 * (what the offline hook asks: is this recipient muting this conversation) and `user_mutes` by
 * user (listing a user's mutes). Each write carries `at` as its write timestamp, so Cassandra's
 * own last-write-wins keeps the newest setting whatever order writes arrive in (a tie keeps the
 * larger value, `true`, as `supersedes` does).
 */
import type { MuteSetting, MuteStore } from '../mutes.ts';
import type { CqlSession } from './session.ts';

export class CassandraMutes implements MuteStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async set(setting: MuteSetting): Promise<MuteSetting> {
    const micros = setting.at * 1000;
    await this.db.client.batch(
      [
        {
          query: this.q.putByConversation,
          params: [setting.conversationId, setting.userId, setting.muted, micros],
        },
        { query: this.q.putByUser, params: [setting.userId, setting.conversationId, setting.muted, micros] },
      ],
      { logged: true },
    );
    const rs = await this.db.client.execute(this.q.get, [setting.conversationId, setting.userId]);
    const row = rs.first();
    if (!row) return setting;
    return {
      userId: setting.userId,
      conversationId: setting.conversationId,
      muted: row.get('muted') === true,
      at: Math.floor(Number(row.get('at')) / 1000),
    };
  }

  async isMuted(userId: string, conversationId: string): Promise<boolean> {
    const rs = await this.db.client.execute(this.q.get, [conversationId, userId]);
    return rs.first()?.get('muted') === true;
  }

  async listMuted(userId: string): Promise<string[]> {
    const rows = await this.db.selectAll(this.q.byUser, [userId]);
    return rows.filter((r) => r.get('muted') === true).map((r) => String(r.get('conversation_id')));
  }
}

function statements(ks: string) {
  return {
    putByConversation: `INSERT INTO ${ks}.conversation_mutes (conversation_id, user_id, muted) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    putByUser: `INSERT INTO ${ks}.user_mutes (user_id, conversation_id, muted) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    get: `SELECT muted, WRITETIME(muted) AS at FROM ${ks}.conversation_mutes WHERE conversation_id = ? AND user_id = ?`,
    byUser: `SELECT conversation_id, muted FROM ${ks}.user_mutes WHERE user_id = ?`,
  };
}
