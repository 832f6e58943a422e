/**
 * What a home-region move sends between regions, inside the replication event `{ k: 'hm' }`
 * (src/replication/events.ts). Every event is keyed by its user, so one region's events of a
 * move are applied in the order it published them: the new home answers an `ask` after applying
 * every `copy` sent before it, and the old home reads a `reply` after every `ack` sent before it.
 */
import type { MessageRecord } from '../storage/common.ts';
import type { HomeMove, MoveReply } from '../storage/home-moves.ts';

export type HomeMoveEvent =
  /** The move's record: every region stores it (its directory follows); the new home replies. */
  | { t: 'move'; move: HomeMove }
  /** Offline-queue entries for the new home to hold (idempotent per message id). */
  | { t: 'copy'; userId: string; moveId: string; to: string; messages: MessageRecord[] }
  /** Entries acknowledged (or found extra) elsewhere: `regions` remove them from their copy. */
  | { t: 'ack'; userId: string; moveId: string; ids: string[]; regions: string[] }
  /** A verification round: the new home answers with its queue's ids. */
  | { t: 'ask'; userId: string; moveId: string; to: string; round: number }
  /** The new home's answer (phase reached, or a round's ids); the old home's mover reads it. */
  | { t: 'reply'; reply: MoveReply };

/** The user a move event is about: its replication key. */
export function moveEventUser(ev: HomeMoveEvent): string {
  return ev.t === 'move' ? ev.move.userId : ev.t === 'reply' ? ev.reply.userId : ev.userId;
}
