/**
 * Home regions: where a user's offline queue lives and which region answers for them when they
 * are offline. Every region must agree without asking anyone, so the answer is a pure function
 * of the shared config: an explicit pin from `directory.pins`, else rendezvous hashing of the
 * user id over the region names (adding a region moves only the users it wins; removing one
 * moves only its own users). A user moved at runtime (`src/homes/`) is answered from their move
 * record instead: the store every region reads holds it, and each gateway refreshes its copy here.
 */
import { createHash } from 'node:crypto';
import {
  type HomeMove,
  holdsUnder,
  homeUnder,
  notifiesUnder,
  supersedesMove,
} from '../storage/home-moves.ts';

export interface DirectoryConfig {
  pins: Readonly<Record<string, string>>;
}

export class Directory {
  private readonly cache = new Map<string, string>();
  /** Move records by user: they override pins and hashing (`setMoves`). */
  private moves = new Map<string, HomeMove>();

  constructor(
    private readonly regions: readonly string[],
    private readonly config: DirectoryConfig = { pins: {} },
  ) {
    if (regions.length === 0) throw new RangeError('Directory needs at least one region');
  }

  /** Takes the move records the store holds (read by `src/homes/`): the newer of each wins. */
  setMoves(moves: Iterable<HomeMove>): void {
    // Records are never deleted from the store, so one held here stays; a record set by
    // `setMove` while the list was being read is newer than the listed one and stays too.
    const next = new Map(this.moves);
    for (const m of moves) {
      if (this.knows(m) && supersedesMove(m, next.get(m.userId))) next.set(m.userId, m);
    }
    this.moves = next;
  }

  /** Takes one record (written or applied here) without re-reading them all. */
  setMove(move: HomeMove): void {
    if (this.knows(move) && supersedesMove(move, this.moves.get(move.userId)))
      this.moves.set(move.userId, move);
  }

  private knows(m: HomeMove): boolean {
    return this.regions.includes(m.from) && this.regions.includes(m.to);
  }

  /** The user's move record as this directory knows it (null: never moved). */
  moveOf(userId: string): HomeMove | null {
    return this.moves.get(userId) ?? null;
  }

  /**
   * Whether `region` keeps the user's offline queue: their home, and while a move is under way
   * (until its cleanup) both the old home and the new one.
   */
  holds(region: string, userId: string): boolean {
    const move = this.moves.get(userId);
    return move ? holdsUnder(move, region) : this.staticHomeOf(userId) === region;
  }

  /**
   * Whether `region` sends the `message.offline` webhook for what it queues for the user: only
   * one of the two holders does during a move (`notifiesUnder`).
   */
  notifies(region: string, userId: string): boolean {
    const move = this.moves.get(userId);
    return move ? notifiesUnder(move, region) : this.staticHomeOf(userId) === region;
  }

  homeOf(userId: string): string {
    const move = this.moves.get(userId);
    return move ? homeUnder(move) : this.staticHomeOf(userId);
  }

  /** The home from the config alone: a pin, else rendezvous hashing. */
  staticHomeOf(userId: string): string {
    const pinned = this.config.pins[userId];
    if (pinned !== undefined && this.regions.includes(pinned)) return pinned;
    const hit = this.cache.get(userId);
    if (hit) return hit;
    let best = this.regions[0]!;
    let bestScore = -1n;
    for (const region of this.regions) {
      const digest = createHash('sha256').update(region).update('\0').update(userId).digest();
      const score = digest.readBigUInt64BE(0);
      if (score > bestScore) {
        bestScore = score;
        best = region;
      }
    }
    if (this.cache.size > 200_000) this.cache.clear();
    this.cache.set(userId, best);
    return best;
  }
}
