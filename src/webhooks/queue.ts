/**
 * The durable webhook queue: one pluggable concern with two implementations, JetStream
 * (`jetstream-queue.ts`, a stream per region, for regions with NATS) and LMDB
 * (`embedded-queue.ts`, for `npm start`). Both pass `test/webhook-queue.contract.ts`.
 *
 * A queue item is one event for one endpoint (an event two endpoints subscribe to is two items,
 * retried and dead-lettered apart). `enqueue` resolves only once the items are durable: the
 * gateway acks a message (and acks a replicated one's inbox event) only after that, so an acked
 * message's events survive a crash. Every gateway of a region takes items from the same queue
 * (`next`); an item taken and neither acked nor retried (its gateway died) is handed out again
 * after `ackWaitMs`, so delivery is at-least-once.
 */
import type { WebhookEvent } from './event-types.ts';

export interface WebhookItem {
  /** `<endpoint>.<event id>`: enqueueing the same id again while it is queued adds nothing. */
  id: string;
  endpoint: string;
  event: WebhookEvent;
}

/** One item handed to a dispatcher: settle it exactly once with one of the three. */
export interface WebhookDelivery {
  item: WebhookItem;
  /** 1 for the first try; counts every hand-out, including those whose gateway died. */
  attempt: number;
  /** Delivered: removed from the queue. */
  ack(): Promise<void>;
  /** Failed: handed out again (attempt + 1) no sooner than `delayMs` from now. */
  retry(delayMs: number): Promise<void>;
  /** Failed for the last time: moved to the dead letters with the last error. */
  dead(lastError: string): Promise<void>;
}

export interface DeadLetter {
  item: WebhookItem;
  attempts: number;
  lastError: string;
  /** Milliseconds since the Unix epoch. */
  deadAt: number;
}

export interface WebhookQueue {
  /** Opens the queue (creates the stream or tables if missing). Idempotent. */
  start(): Promise<void>;
  /** Durably queues the items; resolves once they would survive a crash. */
  enqueue(items: readonly WebhookItem[]): Promise<void>;
  /**
   * The next item due, waiting at most `waitMs` (about: JetStream waits at least a second) for
   * one when none is; null after that or once the queue is closing. A dispatcher runs one loop of
   * `next` per delivery it may have in flight.
   */
  next(waitMs: number): Promise<WebhookDelivery | null>;
  /** Items queued and not yet delivered or dead (in flight included). */
  depth(): Promise<number>;
  /** The dead letters, oldest first, at most `limit`. */
  listDead(limit: number): Promise<DeadLetter[]>;
  deadCount(): Promise<number>;
  /** Queues a dead letter again (attempts from 1) and removes it; false when there is no such one. */
  replayDead(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** How long an item handed out may stay unsettled before it is handed out again. */
export interface QueueTiming {
  ackWaitMs: number;
}
