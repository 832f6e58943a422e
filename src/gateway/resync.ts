/**
 * Server-side resync: the gateway replays to its own open connections what live delivery may
 * have dropped, so that a position a client holds keeps meaning "received everything visible
 * before T" (docs/architecture.md, "Delivery guarantees"). Two events drop live frames to an
 * open socket without closing it:
 * - this gateway's NATS connection was lost and came back (`Router` `onGap`): frames the
 *   region's other gateways published to our users in between are gone;
 * - another gateway of the region died between an ack and its fan-out (presence
 *   `subscribeGatewayLost`): our users never got that message live;
 * - this gateway's own presence lapsed (a stall past the TTL, Redis restarted empty): other
 *   gateways, which route by presence, saw our users as gone and published nothing to us.
 * Each connection gets the replay a `sync` from the position `v1.<region>.<since>` gets (the
 * replay subtracts the lookback itself), with live frames held and deduplicated the same way,
 * at most `resume.resyncConcurrency` at a time.
 */
import { CloseCode, closeReason } from '../errors.ts';
import type { Presence } from '../presence/types.ts';
import type { ResumePosition } from '../protocol/index.ts';
import type { RoutingGap } from '../routing/types.ts';
import type { Logger } from '../util/log.ts';
import type { ChatService } from './chat-service.ts';
import type { ConnectionState } from './connection.ts';
import type { Gateway } from './gateway.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { ReplayFrom } from './ops/replay.ts';
import type { Sessions } from './sessions.ts';

export type ResyncReason = 'nats_gap' | 'gateway_lost' | 'presence_lapse';

export interface ResyncDeps {
  sessions: Sessions;
  chat: ChatService;
  metrics: GatewayMetrics;
  presence: Presence;
  /** This gateway: its own loss is not announced to itself. */
  gatewayId: string;
  /** `presence.ttlMs`: how long after its last heartbeat a dead gateway is swept at the latest. */
  presenceTtlMs: number;
  /** This gateway's region: the clock of the positions it replays from. */
  region: string;
  /** Replays running at once (`resume.resyncConcurrency`). */
  concurrency: number;
  log: Logger;
}

interface Job {
  /** Replay everything made visible here since this (ms), minus the lookback. */
  since: number;
  reason: ResyncReason;
}

export class Resync {
  /** Connections waiting for their replay, in arrival order; one entry per connection. */
  private readonly queue = new Map<ConnectionState, Job>();
  private active = 0;
  private stopped = false;
  private unsubscribeGatewayLost: (() => void) | null = null;

  constructor(private readonly d: ResyncDeps) {}

  /** The resync of a gateway's own connections (kept here to keep gateway.ts small). */
  static forGateway(gw: Gateway, log: Logger): Resync {
    const { config, region, presence } = gw.deps;
    return new Resync({
      sessions: gw.sessions,
      chat: gw.chat,
      metrics: gw.metrics,
      presence,
      gatewayId: gw.gatewayId,
      presenceTtlMs: config.presence.ttlMs,
      region: region.name,
      concurrency: config.resume.resyncConcurrency,
      log,
    });
  }

  /**
   * The router's `onGap`: frames other gateways publish to our users are lost while NATS is
   * away. Hold what our sockets get from the gap's start, and replay the gap to every one of
   * them once it is back.
   */
  onGap(gap: RoutingGap): void {
    if (gap.until === null) this.holdAll();
    else this.resyncAll('nats_gap', gap.since);
  }

  /**
   * Resyncs every connection when presence finds another gateway of the region dead, or finds
   * that this one's liveness had lapsed: other gateways route by presence, so meanwhile they
   * published nothing to our users.
   */
  watchGatewayLost(): void {
    this.unsubscribeGatewayLost = this.d.presence.subscribeGatewayLost((lost) => {
      if (lost.gatewayId === this.d.gatewayId) {
        this.resyncAll('presence_lapse', lost.lastSeenAt);
        return;
      }
      // Its last heartbeat is the presence store's clock; a dead gateway is swept no earlier than
      // a TTL after it, so now − TTL bounds it on our clock too (whichever is earlier wins).
      const since = Math.min(lost.lastSeenAt, Date.now() - this.d.presenceTtlMs);
      this.resyncAll('gateway_lost', since);
    });
  }

  /**
   * Live frames to every open connection are being lost from now on (the router's transport is
   * down): hold them back, so no frame with a newer `pos` reaches a client before what it
   * missed. They are sent, minus duplicates, after the resync that `resyncAll` queues.
   */
  holdAll(): void {
    for (const session of this.d.sessions.list()) {
      void session.connectReplayed.then(() => {
        const state = session.state;
        if (state && !session.conn.closed && !this.stopped) this.hold(state);
      });
    }
  }

  /**
   * Queues a replay, for every open connection, of everything made visible in this region since
   * `since`. A connection still in its connect replay is queued when that ends; one already
   * queued keeps one entry, from the earlier of the two times.
   */
  resyncAll(reason: ResyncReason, since: number): void {
    if (this.stopped) return;
    this.d.metrics.resyncTriggers.inc({ reason });
    const sessions = this.d.sessions.list();
    this.d.log.warn({ reason, since, connections: sessions.length }, 'resyncing open connections');
    for (const session of sessions) {
      void session.connectReplayed.then(() => {
        const state = session.state;
        if (state && !session.conn.closed) this.enqueue(state, { since, reason });
      });
    }
  }

  /**
   * Stops starting replays and listening for lost gateways (shutdown, before the services
   * close); those running end when their connection closes or the storage read fails.
   */
  stop(): void {
    this.stopped = true;
    this.unsubscribeGatewayLost?.();
    this.unsubscribeGatewayLost = null;
    this.queue.clear();
    this.d.metrics.resyncPending.set(0);
  }

  private hold(state: ConnectionState): void {
    // The hub holds live frames while `syncing`; the replay clears it and flushes them.
    state.beginSync();
  }

  private enqueue(state: ConnectionState, job: Job): void {
    if (this.stopped) return;
    const queued = this.queue.get(state);
    if (queued) {
      queued.since = Math.min(queued.since, job.since);
      return;
    }
    this.hold(state);
    this.queue.set(state, { ...job });
    this.d.metrics.resyncPending.set(this.queue.size);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.d.concurrency) {
      const next = this.queue.entries().next();
      if (next.done) break;
      const [state, job] = next.value;
      this.queue.delete(state);
      this.d.metrics.resyncPending.set(this.queue.size);
      this.active++;
      void this.run(state, job).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  /**
   * One connection's replay, continued while truncated (a client would ask for the rest itself;
   * this is the server's doing, so it finishes it). A failure closes the connection (1001): the
   * client reconnects and resumes from its position, which no frame of the gap has moved.
   */
  private async run(state: ConnectionState, job: Job): Promise<void> {
    const conn = state.conn;
    let position: ResumePosition = { region: this.d.region, t: job.since, afterId: null };
    try {
      for (;;) {
        if (conn.closed) return;
        const from: ReplayFrom = { position, since: null };
        const synced = await this.d.chat.sync(state, from, null);
        if (conn.closed) return;
        conn.sendFrame(synced);
        if (!synced.truncated || synced.lastId === null) break;
        position = { ...position, afterId: BigInt(synced.lastId) };
      }
      this.d.metrics.resyncs.inc({ reason: job.reason, result: 'ok' });
    } catch (err) {
      // Shutting down: the services it read were closed under it, and the connection with them.
      if (this.stopped || conn.closed) return;
      this.d.metrics.resyncs.inc({ reason: job.reason, result: 'failed' });
      this.d.log.error(
        { err, reason: job.reason, connectionId: conn.connectionId, userId: conn.userId },
        'resync failed; closing the connection so the client resumes',
      );
      conn.close(CloseCode.GoingAway, closeReason(CloseCode.GoingAway, 'resync failed'));
    }
  }
}
