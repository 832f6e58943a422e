/**
 * Client-message dedup as a strategy `CassandraStorage` is given: of all concurrent attempts to
 * store one (sender, clientMsgId), exactly one reserves it, and the others learn which message
 * id it was reserved for. Two implementations (docs/architecture.md, "Client-message dedup"):
 *
 * - `lwtDedup` (`dedup-lwt.ts`, the default): a lightweight transaction on a `message_dedup` row.
 * - `arbiterDedup(arbiter)` (`dedup-arbiter.ts`): a claim in a `DedupArbiter` (the region's
 *   Redis) decides between attempts in flight; the durable record is the message row itself,
 *   found through the `client_msg_id` index when a resend's claim finds nothing. No Paxos, no
 *   second row, and no read for a first attempt.
 *
 * What happens once the reservation is decided (store, answer as duplicate, heal) is the same
 * for both and lives in `messages.ts`.
 */
import type { types } from 'cassandra-driver';
import type { StoredMessage } from '../types.ts';
import { fromLong, text } from './rows.ts';
import type { CqlSession } from './session.ts';

/**
 * How long an attempt that lost the reservation looks for the holder's message before it writes
 * the message itself under the holder's id (the holder may have crashed). The holder's row may
 * still be waiting in a group-committed batch, so even a reservation read back from Cassandra
 * (the LWT's) does not mean its message is written yet.
 */
export const HOLDER_GRACE_MS = 1000;

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

/** How a strategy finds the message an earlier attempt stored, when it needs to. */
export type FindStored = (message: StoredMessage, clientMsgId: string) => Promise<Reservation | null>;

export interface DedupStrategy {
  /**
   * Reserves (message.senderId, clientMsgId) for this message. Resolves to null when the
   * reservation is this message's (the caller then writes it), else to the reservation another
   * attempt holds. `firstAttempt`: the client says no earlier attempt was ever sent, so only
   * attempts in flight now can hold it.
   */
  reserve(
    message: StoredMessage,
    clientMsgId: string,
    firstAttempt: boolean,
  ): Promise<HeldReservation | null>;
  /**
   * Records a replica (stored and acked in another region, written here under its own id) as the
   * reservation of its client message, unless an attempt here holds it already; either way the
   * replica is written.
   */
  reserveReplica(message: StoredMessage, clientMsgId: string): Promise<void>;
  /**
   * Called before `healed` is written under a held reservation whose message was never stored:
   * makes sure the reservation's durable record exists, as a first attempt would have.
   */
  adopt(healed: StoredMessage, clientMsgId: string): Promise<void>;
  /** Connects whatever the strategy needs besides Cassandra. */
  init(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Builds a strategy on the store's session, with the message store's index lookup;
 * `CassandraStorage` owns it (init and close).
 */
export type DedupStrategyFactory = (session: CqlSession, findStored: FindStored) => DedupStrategy;

/** A `message_dedup` row (or an LWT's answer on one) as the reservation it records. */
export function rowToReservation(row: types.Row): Reservation {
  return { conversationId: text(row, 'conversation_id'), messageId: fromLong(row.get('message_id')) };
}
