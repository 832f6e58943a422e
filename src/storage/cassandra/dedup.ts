/**
 * Client-message dedup as a strategy `CassandraStorage` is given: of all concurrent attempts to
 * store one (sender, clientMsgId), exactly one reserves it, and the others learn which message
 * id it was reserved for. Two implementations (docs/architecture.md, "Client-message dedup"):
 *
 * - `lwtDedup` (`dedup-lwt.ts`, the default): a lightweight transaction on the dedup row.
 * - `arbiterDedup(arbiter)` (`dedup-arbiter.ts`): a plain read of the dedup row, else a claim
 *   in a `DedupArbiter` (the region's Redis), then a plain write of the row. No Paxos.
 *
 * What happens once the reservation is decided (store, answer as duplicate, heal) is the same
 * for both and lives in `messages.ts`.
 */
import type { types } from 'cassandra-driver';
import type { StoredMessage } from '../types.ts';
import { fromLong, text } from './rows.ts';
import type { CqlSession } from './session.ts';

/** The message (sender, clientMsgId) is reserved for. */
export interface Reservation {
  conversationId: string;
  messageId: bigint;
}

/** A reservation held by another attempt. */
export interface HeldReservation {
  reservation: Reservation;
  /** How long the holder may still be writing its message: look for it that long before healing. */
  waitMs: number;
}

export interface DedupStrategy {
  /**
   * Reserves (message.senderId, clientMsgId) for this message. Resolves to null when the
   * reservation is this message's (its `message_dedup` row is then written), else to the
   * reservation another attempt holds.
   */
  reserve(message: StoredMessage, clientMsgId: string): Promise<HeldReservation | null>;
  /**
   * Called before `healed` is written under a held reservation whose message was never stored:
   * makes sure the reservation's `message_dedup` row exists, as a first attempt would have.
   */
  adopt(healed: StoredMessage, clientMsgId: string): Promise<void>;
  /** Connects whatever the strategy needs besides Cassandra. */
  init(): Promise<void>;
  close(): Promise<void>;
}

/** Builds a strategy on the store's session; `CassandraStorage` owns it (init and close). */
export type DedupStrategyFactory = (session: CqlSession) => DedupStrategy;

/** A `message_dedup` row (or an LWT's answer on one) as the reservation it records. */
export function rowToReservation(row: types.Row): Reservation {
  return { conversationId: text(row, 'conversation_id'), messageId: fromLong(row.get('message_id')) };
}
