/**
 * The `HomeMoveStore` of the embedded (LMDB) store, in the same environment as its messages: one
 * table of move records keyed by user, the users whose move is not finished (written in the same
 * transaction as their record), and replies keyed [user, move, phase, round]. Writes
 * resolve after LMDB committed and flushed them.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { durable } from './embedded-durable.ts';
import {
  type HomeMove,
  type HomeMoveStore,
  type MovePhase,
  type MoveReply,
  moveEnded,
  supersedesMove,
} from './home-moves.ts';

export class EmbeddedHomeMoves implements HomeMoveStore {
  private root: RootDatabase | null = null;
  private moves: Database<HomeMove, Key> | null = null;
  /** The users whose move is not finished, so gateways need not read every record to find them. */
  private active: Database<true, Key> | null = null;
  private replies: Database<MoveReply, Key> | null = null;

  /** Opens the tables in the store's environment (`EmbeddedStorage.init`). */
  open(root: RootDatabase): void {
    this.root = root;
    this.moves = root.openDB({ name: 'home_moves' });
    this.active = root.openDB({ name: 'home_moves_active' });
    this.replies = root.openDB({ name: 'home_move_replies' });
  }

  /** Forgets the environment (`EmbeddedStorage.close` closes it). */
  detach(): void {
    this.root = null;
    this.moves = null;
    this.active = null;
    this.replies = null;
  }

  async put(move: HomeMove): Promise<HomeMove> {
    const { moves, active } = this.t();
    return durable(
      this.root,
      moves.transaction(() => {
        const current = moves.get(move.userId);
        if (!supersedesMove(move, current)) return current!;
        moves.put(move.userId, structuredClone(move));
        if (moveEnded(move.phase)) active.remove(move.userId);
        else active.put(move.userId, true);
        return move;
      }),
    );
  }

  async get(userId: string): Promise<HomeMove | null> {
    return this.t().moves.get(userId) ?? null;
  }

  async list(): Promise<HomeMove[]> {
    return [...this.t().moves.getRange({})].map(({ value }) => value);
  }

  async listActive(): Promise<HomeMove[]> {
    const { moves, active } = this.t();
    const out: HomeMove[] = [];
    for (const key of active.getKeys({})) {
      const m = moves.get(key);
      if (m) out.push(m);
    }
    return out;
  }

  async putReply(reply: MoveReply): Promise<void> {
    const key = [reply.userId, reply.moveId, reply.phase, reply.round];
    await durable(this.root, this.t().replies.put(key, structuredClone(reply)));
  }

  async getReply(userId: string, moveId: string, phase: MovePhase, round: number): Promise<MoveReply | null> {
    return this.t().replies.get([userId, moveId, phase, round]) ?? null;
  }

  private t(): {
    moves: Database<HomeMove, Key>;
    active: Database<true, Key>;
    replies: Database<MoveReply, Key>;
  } {
    if (!this.moves || !this.active || !this.replies) throw new Error('embedded storage not initialised');
    return { moves: this.moves, active: this.active, replies: this.replies };
  }
}
