/**
 * Replication between regions: every region keeps a full copy of every conversation, so any
 * region can serve any user's history and replay when their home region is down. The origin
 * region stores and acks; the event reaches the others through the outbox → inbox path, and each
 * applies it idempotently to its own store, then delivers it to its own connected users and
 * queues it for the offline users it is home to.
 *
 *   link.ts     the JetStream outbox/inbox streams between regions (`CrossRegionLink`)
 *   events.ts   the events on that link and their encoding
 *   outbox.ts   publishing: `OutboxPublisher`, and the store decorator that calls it
 *   erase.ts    erasing deleted content's events from the region's streams
 *   apply.ts    applying other regions' events to this region's store (`Applier`)
 *   keyed-apply.ts  applying them concurrently across conversations, in order within one
 *   sink.ts     delivering applied events to the gateway's users
 *   backlog.ts  the backlog figures the dashboard shows
 *
 * `Replication` owns them: the gateway talks to it and to nothing else here.
 */
import type { Directory } from '../config/directory.ts';
import type { HomeMoveEvent } from '../homes/events.ts';
import { mirroringAcks } from '../homes/mirror.ts';
import type { SessionsEnd } from '../routing/types.ts';
import type { ErasureRecord, ErasureRequest } from '../storage/retention.ts';
import type { Storage } from '../storage/types.ts';
import { Applier, type ReplicationSink } from './apply.ts';
import { StreamEraser } from './erase.ts';
import { decodeEvent, type ReplicationEvent } from './events.ts';
import type { CrossRegionBacklog, CrossRegionLink } from './link.ts';
import { OutboxPublisher, replicatingStorage } from './outbox.ts';

export type { ModerationScope, ReplicationSink } from './apply.ts';
export type { CrossRegionBacklog, PeerBacklog } from './backlog.ts';
export { caughtUp } from './caught-up.ts';
export type { ConversationEvent, ReplicationEvent } from './events.ts';
export { CrossRegionLink, type CrossRegionOptions } from './link.ts';
export { replicationSink } from './sink.ts';

export class Replication {
  /**
   * The region's store as the gateway uses it: the writes other regions need (messages,
   * conversations, members, read markers) also go to the outbox before they resolve.
   */
  readonly storage: Storage;
  /** Erases deleted content's events from this region's outbox and inbox (`erase.ts`). */
  readonly eraser: StreamEraser;
  private readonly applier: Applier;
  private readonly outbox: OutboxPublisher;

  constructor(
    readonly region: string,
    private readonly link: CrossRegionLink,
    /** Every region's home for each user; move records update it (`src/homes/`). */
    readonly directory: Directory,
    /** The region's own store; applying writes here directly, never republishing. */
    readonly local: Storage,
  ) {
    this.eraser = new StreamEraser(link);
    this.outbox = new OutboxPublisher(link);
    // While a user's queue moves, their acks also reach the other holder (homes/mirror.ts).
    this.storage = mirroringAcks(
      replicatingStorage(local, this.outbox, this.eraser),
      region,
      directory,
      (ev) => this.outbox.homeMove(ev),
    );
    this.applier = new Applier(local, this.eraser);
  }

  /** Hands an erasure request to every other region (resolves once the outbox has it). */
  publishErasure(req: ErasureRequest): Promise<void> {
    return this.outbox.erasure(req);
  }

  /** Hands this region's record of an erasure to every other region. */
  publishErasureRecord(record: ErasureRecord): Promise<void> {
    return this.outbox.erasureRecord(record);
  }

  /** Runs other regions' erasure requests here; set before `start`. */
  onErasure(handler: (req: ErasureRequest) => Promise<void>): void {
    this.applier.eraseHandler = handler;
  }

  /** The replication backlog per peer region, read from JetStream (see `CrossRegionLink.backlog`). */
  backlog(timeoutMs?: number): Promise<CrossRegionBacklog> {
    return this.link.backlog(timeoutMs);
  }

  /**
   * Hands a revocation (stored here already) or a disconnect to every other region, which
   * stores it and closes the user's sessions (resolves once the outbox has it).
   */
  endSessions(end: SessionsEnd): Promise<void> {
    return this.outbox.sessionsEnded(end);
  }

  /**
   * True if this region holds the user's offline queue: their home, or while they move (until
   * the old copy is cleaned up) either end of the move.
   */
  isHome(userId: string): boolean {
    return this.directory.holds(this.region, userId);
  }

  /** Hands a home-region move's event to every other region (resolves once the outbox has it). */
  publishHomeMove(ev: HomeMoveEvent): Promise<void> {
    return this.outbox.homeMove(ev);
  }

  /** Applies other regions' home-move events here; set before `start`. */
  onHomeMove(handler: (ev: HomeMoveEvent) => Promise<void>): void {
    this.applier.homeMoveHandler = handler;
  }

  homeOf(userId: string): string {
    return this.directory.homeOf(userId);
  }

  /** Starts applying other regions' events to this region's store and users. */
  start(sink: ReplicationSink): Promise<void> {
    // Decoded once per event (the link hands the same payload to `opensKey` and to every attempt).
    const decoded = new WeakMap<Uint8Array, ReplicationEvent>();
    const decode = (data: Uint8Array): ReplicationEvent => {
      let event = decoded.get(data);
      if (!event) {
        event = decodeEvent(data);
        decoded.set(data, event);
      }
      return event;
    };
    return this.link.consume((data, meta) => this.applier.apply(decode(data), meta.eventId, sink, meta), {
      // A redelivered creation comes after the conversation's later messages, which fail until
      // it is applied: it must not wait behind them.
      opensKey: (data) => {
        const event = decode(data);
        return event.k === 'c' && event.event === 'created';
      },
    });
  }

  ping(): Promise<void> {
    return this.link.ping();
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
