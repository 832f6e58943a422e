/**
 * Home-region moves (docs/operations.md, "Moving users to another home region"): one record per
 * user naming where their offline queue lives while and after it moves, kept in every region's
 * store so every region's directory agrees (`src/homes/`), plus the replies the new home sends
 * back to the old one (phase reached, its queue's ids for a verification round). Two
 * implementations, each part of its `Storage` (`storage.homeMoves`): Cassandra
 * (`cassandra/home-moves.ts`, migration 12) and LMDB (`embedded-home-moves.ts`). Both pass
 * `test/home-moves.contract.ts`.
 */

/**
 * `dual`: the old home is authoritative, both homes queue. `backfill`: the old home's queue is
 * copied in batches. `verify`: ids compared, differences reconciled. `cutover`: the new home is
 * the home, both still queue (grace for writes routed by a stale view). `cleanup`: only the new
 * home queues; the old copy is removed. `done`. `failed`: abandoned before cutover, the old home
 * stays home.
 */
export const MOVE_PHASES = ['dual', 'backfill', 'verify', 'cutover', 'cleanup', 'done', 'failed'] as const;
export type MovePhase = (typeof MOVE_PHASES)[number];

/** A difference between the two queues that outlived one verification round. */
export interface MoveDifference {
  messageId: string;
  /** `missing`: in the old home, not the new (copied); `extra`: in the new only (removed there). */
  kind: 'missing' | 'extra';
  round: number;
}

export interface MoveReport {
  /** Verification rounds run (each compares both queues' ids). */
  rounds: number;
  /** Entries in the old home's queue and the new home's at the last round. */
  oldCount: number;
  newCount: number;
  /** Differences seen in one round and gone by the next (entries still travelling): not errors. */
  transient: number;
  /** Differences that persisted across two rounds, each reconciled. Empty when all went well. */
  differences: MoveDifference[];
  /** Entries found only in the old home and copied when found (at most 1000 listed). */
  copiedMissing: string[];
  /** Entries found only in the new home twice running and removed there (at most 1000 listed). */
  removedExtra: string[];
  /** True when the last round found the two queues equal. */
  clean: boolean;
}

export interface HomeMove {
  userId: string;
  /** Names one move of the user; a later move replaces the record. */
  moveId: string;
  from: string;
  to: string;
  phase: MovePhase;
  /** Bumped on every change of the record: the larger wins within one move. */
  rev: number;
  startedAt: number;
  updatedAt: number;
  /**
   * Backfill batches sent and entries copied; verification rounds asked (verify and cleanup);
   * entries removed from the old home at cleanup.
   */
  progress: { batches: number; copied: number; rounds: number; cleaned: number };
  /** The last verification's report (null before `verify`). */
  report: MoveReport | null;
  error: string | null;
}

/** What the new home tells the old: it applied `phase`; for a verification round, its ids. */
export interface MoveReply {
  userId: string;
  moveId: string;
  region: string;
  phase: MovePhase;
  /** The verification round answered (0 for a phase reply). */
  round: number;
  at: number;
  /** The offline-queue entry ids the region held when it answered (verification only). */
  ids: string[] | null;
}

export interface HomeMoveStore {
  /** Stores the record unless a newer one is stored; resolves with the record that stands. */
  put(move: HomeMove): Promise<HomeMove>;
  get(userId: string): Promise<HomeMove | null>;
  /** Every stored record (the directory's overrides: moved users keep theirs after `done`). */
  list(): Promise<HomeMove[]>;
  /**
   * The records of moves not finished (phase before `done`, not `failed`): what gateways re-read
   * every `refreshMs` instead of the whole table. May also hold a move that has just finished.
   */
  listActive(): Promise<HomeMove[]>;
  putReply(reply: MoveReply): Promise<void>;
  getReply(userId: string, moveId: string, phase: MovePhase, round: number): Promise<MoveReply | null>;
}

/** Whether `next` replaces `current`: a later move wins, then within one move a larger `rev`. */
export function supersedesMove(next: HomeMove, current: HomeMove | null | undefined): boolean {
  if (!current) return true;
  if (next.moveId !== current.moveId) {
    if (next.startedAt !== current.startedAt) return next.startedAt > current.startedAt;
    return next.moveId > current.moveId;
  }
  return next.rev > current.rev;
}

/** Whether a move in `phase` is over (its record changes no more until the user moves again). */
export function moveEnded(phase: MovePhase): boolean {
  return phase === 'done' || phase === 'failed';
}

/**
 * The phases in which an ack in one home must reach the other: until the old copy is gone, an
 * entry acked in one and kept in the other would be delivered again (or copied back).
 */
export function mirrorsAcks(phase: MovePhase): boolean {
  return phase !== 'done' && phase !== 'failed';
}

/** The phases in which both homes hold the user's queue (writes go to both). */
export function bothHold(phase: MovePhase): boolean {
  return phase === 'dual' || phase === 'backfill' || phase === 'verify' || phase === 'cutover';
}

/** The user's home under a move record: the old one until cutover (and after a failure). */
export function homeUnder(move: HomeMove): string {
  return move.phase === 'cutover' || move.phase === 'cleanup' || move.phase === 'done' ? move.to : move.from;
}

/** Whether `region` holds (queues for) the move's user. */
export function holdsUnder(move: HomeMove, region: string): boolean {
  if (bothHold(move.phase)) return region === move.from || region === move.to;
  return region === homeUnder(move);
}

/**
 * Whether `region` emits the `message.offline` webhook for an entry it queues for the move's user:
 * the old home until cutover, both during cutover's grace, the new home after. One push per
 * message, except at the switch, where two are better than none.
 */
export function notifiesUnder(move: HomeMove, region: string): boolean {
  if (move.phase === 'cutover') return region === move.from || region === move.to;
  return region === homeUnder(move);
}
