/**
 * Client-message dedup without Paxos and without a row of its own. A `DedupArbiter` (the
 * region's Redis) decides between attempts in flight at the same time, so it only has to
 * remember a claim that long; the durable record of a stored client message is its message row,
 * which carries `client_msg_id` and is found through that column's index (migration 3). A first
 * attempt (the client says none was sent before) needs only the claim: no read, one row.
 */
import { assertMessageId } from '../common.ts';
import type { StoredMessage } from '../types.ts';
import {
  type DedupStrategy,
  type DedupStrategyFactory,
  type FindStored,
  type HeldReservation,
  HOLDER_GRACE_MS,
  type Reservation,
} from './dedup.ts';
import type { DedupArbiter } from './redis-arbiter.ts';

/**
 * Lifetime of a dedup arbiter claim. It only has to outlive the attempts in flight when it is
 * made (each of their requests times out after the driver's 12 s); later resends are recognised
 * from the Cassandra row. Redis holds one claim per message sent in the last TTL, so this is
 * also its memory: at 2,000 sends/s, 240k keys.
 */
export const DEDUP_CLAIM_TTL_MS = 2 * 60 * 1000;

/**
 * Arbiter key of a client message: JSON, so no (sender, conversation, clientMsgId) triple can
 * spell another's. Per conversation, like the index lookup of the durable record.
 */
export function dedupKey(senderId: string, conversationId: string, clientMsgId: string): string {
  return JSON.stringify([senderId, conversationId, clientMsgId]);
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
  constructor(
    private readonly findStored: FindStored,
    private readonly arbiter: DedupArbiter,
  ) {}

  /**
   * A resend first looks for the message an earlier attempt stored (through the index); a first
   * attempt cannot have one. Then the arbiter's claim decides between the attempts in flight; a
   * retried claim that gets back its own value counts as ours. The lookup comes before the claim:
   * a claim made and then found to belong to an already stored message would send concurrent
   * attempts looking for a message under this attempt's id, which is never written.
   */
  async reserve(
    message: StoredMessage,
    clientMsgId: string,
    firstAttempt: boolean,
  ): Promise<HeldReservation | null> {
    if (!firstAttempt) {
      const stored = await this.findStored(message, clientMsgId);
      if (stored) return { reservation: stored, waitMs: 0 };
    }
    const mine = claimValue(message.conversationId, message.messageId);
    const held = await this.arbiter.claim(
      dedupKey(message.senderId, message.conversationId, clientMsgId),
      mine,
      DEDUP_CLAIM_TTL_MS,
    );
    if (held === null || held === mine) return null;
    // A claim held by another attempt: it is most likely still writing, so give it a moment.
    return { reservation: parseClaimValue(held), waitMs: HOLDER_GRACE_MS };
  }

  /**
   * Claimed for the replica unless an attempt here holds it (then both messages exist, as they
   * would with any strategy): a resend arriving here while the replica is being written then
   * waits for the replica instead of storing the message a second time.
   */
  async reserveReplica(message: StoredMessage, clientMsgId: string): Promise<void> {
    await this.arbiter.claim(
      dedupKey(message.senderId, message.conversationId, clientMsgId),
      claimValue(message.conversationId, message.messageId),
      DEDUP_CLAIM_TTL_MS,
    );
  }

  async adopt(): Promise<void> {
    // The healed message's row is its durable record, and the claim names it already.
  }

  async init(): Promise<void> {
    await this.arbiter.init?.();
  }

  async close(): Promise<void> {
    await this.arbiter.close();
  }
}

/**
 * Dedup decided by `arbiter` instead of a Paxos round per message. The store owns the arbiter:
 * its init() connects it and its close() closes it.
 */
export function arbiterDedup(arbiter: DedupArbiter): DedupStrategyFactory {
  return (_db, findStored) => new ArbiterDedup(findStored, arbiter);
}
