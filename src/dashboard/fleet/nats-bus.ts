/**
 * The `StatsBus` over NATS: publishes on `stats.<region>.<gatewayId>` and subscribes to `stats.>`.
 * The real deployment's NATS is a supercluster whose gateways carry core subjects between
 * regions, so every gateway hears every region's gateways. Its own connection: the figures must
 * not queue behind (or be lost with) message routing, and a stats storm cannot slow routing.
 * The first connect is made in the background and retried: a NATS that is down at start delays
 * the view, not the gateway (the view shows `busError` meanwhile).
 */
import { Events, type Msg, type NatsConnection } from 'nats';
import { connectNats, type NatsTarget } from '../../services/nats.ts';
import { drainNats } from '../../util/close.ts';
import type { Logger } from '../../util/log.ts';
import type { GatewayStats } from '../types.ts';
import { ALL_STATS, type StatsBus, type StatsListener, statsSubject } from './bus.ts';
import { decodeStats, encodeStats } from './wire.ts';

/** Between attempts at a first connection (after that, nats.js reconnects by itself). */
const RETRY_MS = 2000;

/** `servers`, and the credentials and TLS of the region's `nats` block (services/nats.ts). */
export interface NatsStatsBusOptions extends NatsTarget {
  gatewayId: string;
  log: Logger;
}

export class NatsStatsBus implements StatsBus {
  readonly kind = 'nats' as const;
  private nc: NatsConnection | null = null;
  private connecting: Promise<void> | null = null;
  private lastError: string | null = 'connecting to NATS';
  private closed = false;
  private retry: NodeJS.Timeout | null = null;
  private onStats: StatsListener = () => {};
  private onMalformed: (subject: string, err: unknown) => void = () => {};

  constructor(private readonly opts: NatsStatsBusOptions) {}

  async start(onStats: StatsListener, onMalformed: (subject: string, err: unknown) => void): Promise<void> {
    this.onStats = onStats;
    this.onMalformed = onMalformed;
    this.connecting = this.attempt();
  }

  /** One connect; on failure another after `RETRY_MS`, until connected or closed. */
  private async attempt(): Promise<void> {
    if (this.closed) return;
    let nc: NatsConnection;
    try {
      nc = await connectNats(
        this.opts,
        { name: `stats-${this.opts.gatewayId}`, maxReconnectAttempts: -1, reconnectTimeWait: 1000 },
        'fleet view',
      );
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      this.opts.log.warn({ err }, 'stats bus could not connect to NATS; retrying');
      this.retry = setTimeout(() => {
        this.connecting = this.attempt();
      }, RETRY_MS);
      this.retry.unref();
      return;
    }
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.lastError = null;
    nc.subscribe(ALL_STATS, { callback: (err, msg) => this.onMessage(err, msg) });
    void this.watch(nc);
  }

  private onMessage(err: Error | null, msg: Msg): void {
    if (err) {
      this.lastError = err.message;
      this.opts.log.warn({ err }, 'stats subscription error');
      return;
    }
    let stats: GatewayStats;
    try {
      stats = decodeStats(msg.data);
    } catch (parseErr) {
      this.onMalformed(msg.subject, parseErr);
      return;
    }
    // The subject names the sender; a body claiming another gateway is not believed.
    if (msg.subject !== statsSubject(stats.region, stats.gatewayId)) {
      this.onMalformed(msg.subject, new Error('the subject does not name the gateway in the body'));
      return;
    }
    this.onStats(stats);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) this.lastError = 'NATS disconnected; reconnecting';
      else if (s.type === Events.Reconnect) this.lastError = null;
    }
  }

  publish(stats: GatewayStats): void {
    const nc = this.nc;
    // Not connected yet, or closed: this second's figures are skipped; the next ones go out.
    if (!nc || nc.isClosed() || nc.isDraining()) return;
    nc.publish(statsSubject(stats.region, stats.gatewayId), encodeStats(stats));
  }

  error(): string | null {
    return this.lastError;
  }

  /** Waits until connected and subscribed (tests; the gateway does not wait). */
  async ready(): Promise<void> {
    while (!this.nc && !this.closed) {
      await this.connecting;
      if (!this.nc) await new Promise((r) => setTimeout(r, 50));
    }
    await this.nc?.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const nc = this.nc;
    this.nc = null;
    if (nc) await drainNats(nc);
  }
}
