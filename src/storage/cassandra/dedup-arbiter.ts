/**
 * Client-message dedup without Paxos. The Cassandra dedup row recognises resends of a message
 * whose attempt got as far as writing it; a `DedupArbiter` (the region's Redis) decides between
 * attempts in flight at the same time, so it only has to remember a claim that long.
 */
import { assertMessageId } from '../common.ts';
import type { StoredMessage } from '../types.ts';
import {
  type DedupStrategy,
  type DedupStrategyFactory,
  type HeldReservation,
  type Reservation,
  rowToReservation,
} from './dedup.ts';
import type { DedupArbiter } from './redis-arbiter.ts';
import { toLong } from './rows.ts';
import type { CqlSession } from './session.ts';

/**
 * Lifetime of a dedup arbiter claim. It only has to outlive the attempts in flight when it is
 * made (each of their requests times out after the driver's 12 s); later resends are recognised
 * from the Cassandra row. Redis holds one claim per message sent in the last TTL, so this is
 * also its memory: at 2,000 sends/s, 240k keys.
 */
export const DEDUP_CLAIM_TTL_MS = 2 * 60 * 1000;
/**
 * How long an attempt that lost the arbiter claim waits for the holder's message row before it
 * writes the message itself under the holder's id (the holder may have crashed).
 */
const CLAIM_HOLDER_GRACE_MS = 1000;

/** Arbiter key of a client message: JSON, so no (sender, clientMsgId) pair can spell another's. */
export function dedupKey(senderId: string, clientMsgId: string): string {
  return JSON.stringify([senderId, clientMsgId]);
}

/** Arbiter value of a claim: `<conversationId> <messageId>` (the id is digits, so split at the last space). */
export function claimValue(conversationId: string, messageId: bigint): string {
  return `${conversationId} ${messageId}`;
}

function parseClaimValue(value: string): Reservation {
  const space = value.lastIndexOf(' ');
  const digits = value.slice(space + 1);
  if (space < 0 || !/^[0-9]{1,20}$/.test(digits)) {
    throw new Error(`dedup arbiter: malformed claim ${JSON.stringify(value.slice(0, 200))}`);
  }
  const messageId = BigInt(digits);
  assertMessageId(messageId);
  return { conversationId: value.slice(0, space), messageId };
}

class ArbiterDedup implements DedupStrategy {
  private readonly selectRow: string;
  private readonly insertRow: string;

  constructor(
    private readonly db: CqlSession,
    private readonly arbiter: DedupArbiter,
  ) {
    this.selectRow = `SELECT conversation_id, message_id FROM ${db.ks}.message_dedup
       WHERE sender_id = ? AND client_msg_id = ?`;
    this.insertRow = `INSERT INTO ${db.ks}.message_dedup (sender_id, client_msg_id, conversation_id, message_id)
       VALUES (?, ?, ?, ?)`;
  }

  /**
   * The Cassandra dedup row, if there is one, else the arbiter's claim. A retried claim that
   * gets back its own value counts as ours. Ours: the dedup row is written before the caller
   * writes the message, so a crash in between leaves a reservation without a message, which the
   * next resend heals; the other order could leave a message that a resend arriving after the
   * claim expired would not recognise, and store again.
   */
  async reserve(message: StoredMessage, clientMsgId: string): Promise<HeldReservation | null> {
    const reserved = await this.readRow(message.senderId, clientMsgId);
    if (reserved) return { reservation: reserved, waitMs: 0 };
    const mine = claimValue(message.conversationId, message.messageId);
    const held = await this.arbiter.claim(dedupKey(message.senderId, clientMsgId), mine, DEDUP_CLAIM_TTL_MS);
    if (held === null || held === mine) {
      await this.writeRow(message, clientMsgId);
      return null;
    }
    // A claim held by another attempt: it is most likely still writing, so give it a moment.
    return { reservation: parseClaimValue(held), waitMs: CLAIM_HOLDER_GRACE_MS };
  }

  async adopt(healed: StoredMessage, clientMsgId: string): Promise<void> {
    // The reservation may exist only in the arbiter (its holder died before the dedup row, or
    // that write failed): (re)write the row first, as a first attempt does.
    await this.writeRow(healed, clientMsgId);
  }

  async init(): Promise<void> {
    await this.arbiter.init?.();
  }

  async close(): Promise<void> {
    await this.arbiter.close();
  }

  /** The dedup row of (sender, clientMsgId), read at the client's consistency; null if none. */
  private async readRow(senderId: string, clientMsgId: string): Promise<Reservation | null> {
    const rs = await this.db.client.execute(this.selectRow, [senderId, clientMsgId]);
    const row = rs.first();
    return row ? rowToReservation(row) : null;
  }

  /** Plain write of the dedup row (the table's default TTL, DEDUP_TTL_SECONDS, applies). */
  private async writeRow(m: StoredMessage, clientMsgId: string): Promise<void> {
    await this.db.client.execute(this.insertRow, [
      m.senderId,
      clientMsgId,
      m.conversationId,
      toLong(m.messageId),
    ]);
  }
}

/**
 * Dedup decided by `arbiter` instead of a Paxos round per message. The store owns the arbiter:
 * its init() connects it and its close() closes it.
 */
export function arbiterDedup(arbiter: DedupArbiter): DedupStrategyFactory {
  return (db) => new ArbiterDedup(db, arbiter);
}
