/**
 * The `HomeMoveStore` on Cassandra (migration 12, `schema.ts`): `home_moves` holds each user's
 * move record as JSON (read whole, replaced whole: the record that supersedes wins, checked on
 * read — only the old home's mover writes a move, other regions apply its replicated records);
 * `home_move_replies` the new home's replies by (user, move), clustered by phase and round;
 * `home_moves_active` (migration 13) the users whose move is not finished.
 */
import {
  type HomeMove,
  type HomeMoveStore,
  type MovePhase,
  type MoveReply,
  moveEnded,
  supersedesMove,
} from '../home-moves.ts';
import type { CqlSession } from './session.ts';

export class CassandraHomeMoves implements HomeMoveStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async put(move: HomeMove): Promise<HomeMove> {
    const current = await this.get(move.userId);
    if (!supersedesMove(move, current)) return current!;
    // The marker goes in before a running record and out after a finished one, so a crash in
    // between leaves a marker too many (harmless: `listActive` reads the record) and never too few.
    const ended = moveEnded(move.phase);
    if (!ended) await this.db.client.execute(this.q.markActive, [move.userId], { prepare: true });
    await this.db.client.execute(this.q.put, [move.userId, JSON.stringify(move)], { prepare: true });
    if (ended) await this.db.client.execute(this.q.unmarkActive, [move.userId], { prepare: true });
    return move;
  }

  async get(userId: string): Promise<HomeMove | null> {
    const row = (await this.db.client.execute(this.q.get, [userId], { prepare: true })).first();
    return row ? (JSON.parse(String(row.get('record'))) as HomeMove) : null;
  }

  async list(): Promise<HomeMove[]> {
    const rows = await this.db.selectAll(this.q.all, []);
    return rows.map((r) => JSON.parse(String(r.get('record'))) as HomeMove);
  }

  async listActive(): Promise<HomeMove[]> {
    const users = (await this.db.selectAll(this.q.active, [])).map((r) => String(r.get('user_id')));
    const records = await Promise.all(users.map((u) => this.get(u)));
    return records.filter((m): m is HomeMove => m !== null);
  }

  async putReply(reply: MoveReply): Promise<void> {
    await this.db.client.execute(
      this.q.putReply,
      [reply.userId, reply.moveId, reply.phase, reply.round, JSON.stringify(reply)],
      { prepare: true },
    );
  }

  async getReply(userId: string, moveId: string, phase: MovePhase, round: number): Promise<MoveReply | null> {
    const row = (
      await this.db.client.execute(this.q.getReply, [userId, moveId, phase, round], { prepare: true })
    ).first();
    return row ? (JSON.parse(String(row.get('reply'))) as MoveReply) : null;
  }
}

function statements(ks: string) {
  return {
    put: `INSERT INTO ${ks}.home_moves (user_id, record) VALUES (?, ?)`,
    get: `SELECT record FROM ${ks}.home_moves WHERE user_id = ?`,
    all: `SELECT record FROM ${ks}.home_moves`,
    active: `SELECT user_id FROM ${ks}.home_moves_active`,
    markActive: `INSERT INTO ${ks}.home_moves_active (user_id) VALUES (?)`,
    unmarkActive: `DELETE FROM ${ks}.home_moves_active WHERE user_id = ?`,
    putReply: `INSERT INTO ${ks}.home_move_replies (user_id, move_id, phase, round, reply) VALUES (?, ?, ?, ?, ?)`,
    getReply: `SELECT reply FROM ${ks}.home_move_replies WHERE user_id = ? AND move_id = ? AND phase = ? AND round = ?`,
  };
}
