/**
 * Every gateway of every region, as this gateway hears them: each gateway publishes its figures
 * once per sample on the `StatsBus`, and each keeps what it hears, and its own figures, for the
 * last hour (`history.ts`). A gateway silent for `goneAfterMs` is shown `gone`, one that said it was
 * stopping `stopped`; either keeps its place and history until the hour has passed, so an outage
 * stays visible on the chart after the gateway is gone.
 */
import type { Logger } from '../../util/log.ts';
import type { DashboardSample, FleetGateway, FleetView, GatewayStats } from '../types.ts';
import type { StatsBus } from './bus.ts';
import { GatewayHistory, HISTORY_SEC, pointOf, RECENT_SEC } from './history.ts';

/**
 * At most this many gateways are kept: a bound on memory whatever publishes on the subjects. A new
 * one past it replaces the one heard from longest ago (a gone one, in any sane deployment).
 */
export const MAX_GATEWAYS = 1000;

export interface FleetOptions {
  region: string;
  gatewayId: string;
  /** The transport this gateway runs on (`uws` or `node`). */
  transport: string;
  /** Every configured region's name. */
  regions: string[];
  bus: StatsBus;
  goneAfterMs: number;
  historySec?: number;
  recentSec?: number;
  maxGateways?: number;
  now?: () => number;
  log?: Logger;
}

interface Entry {
  latest: GatewayStats;
  lastHeardAt: number;
  history: GatewayHistory;
}

/** The figures of a dashboard sample that go on the wire. */
export function statsOf(
  sample: DashboardSample,
  who: { region: string; gatewayId: string; transport: string },
  stopping = false,
): GatewayStats {
  const r = sample.regions;
  return {
    v: 1,
    region: who.region,
    gatewayId: who.gatewayId,
    transport: who.transport,
    t: sample.t,
    stopping,
    connections: sample.connections,
    messagesInPerSec: sample.messagesInPerSec,
    messagesOutPerSec: sample.messagesOutPerSec,
    deliveryMs: sample.deliveryMs,
    storeMs: sample.storeMs,
    errorRate: sample.errorRate,
    offlineQueue: sample.offlineQueue,
    replication: r
      ? {
          inboxPending: r.backlog?.inboxPending ?? null,
          error: r.error,
          peers: (r.backlog?.peers ?? []).map((p) => ({
            region: p.region,
            reachable: p.reachable,
            inbound: p.inbound,
            outbound: p.outbound,
            inboundIdleMs: p.inboundIdleMs,
          })),
        }
      : null,
    alerts: sample.alerts,
  };
}

export class Fleet {
  private readonly gateways = new Map<string, Entry>();
  private malformed = 0;
  private readonly now: () => number;
  private readonly historySec: number;
  private readonly recentSec: number;
  private readonly maxGateways: number;
  private last: DashboardSample | null = null;

  constructor(private readonly o: FleetOptions) {
    this.now = o.now ?? Date.now;
    this.historySec = o.historySec ?? HISTORY_SEC;
    this.recentSec = o.recentSec ?? RECENT_SEC;
    this.maxGateways = o.maxGateways ?? MAX_GATEWAYS;
  }

  async start(): Promise<void> {
    await this.o.bus.start(
      (stats) => {
        // Its own figures are recorded as they are published (below), whether the bus works or not.
        if (stats.region === this.o.region && stats.gatewayId === this.o.gatewayId) return;
        this.record(stats);
      },
      (subject, err) => {
        this.malformed++;
        // Once per kind of sender would be nicer; a debug line per message is cheap enough.
        this.o.log?.debug({ subject, err }, 'unreadable gateway stats ignored');
      },
    );
  }

  /** Publishes this gateway's figures (once per dashboard sample). */
  publish(sample: DashboardSample): void {
    this.last = sample;
    const stats = statsOf(sample, this.o);
    this.record(stats);
    this.o.bus.publish(stats);
  }

  /** Takes what a gateway published. */
  record(stats: GatewayStats): void {
    const t = this.now();
    const key = `${stats.region}/${stats.gatewayId}`;
    let entry = this.gateways.get(key);
    if (!entry) {
      if (this.gateways.size >= this.maxGateways) this.evictOldest();
      entry = {
        latest: stats,
        lastHeardAt: t,
        history: new GatewayHistory({ historySec: this.historySec, recentSec: this.recentSec }),
      };
      this.gateways.set(key, entry);
    }
    entry.latest = stats;
    entry.lastHeardAt = t;
    // On this gateway's clock: every line of the chart shares one time axis, whatever the skew.
    entry.history.add({ ...pointOf(stats), t });
  }

  /** Every gateway heard within the history window; with `history`, each one's points. */
  view(withHistory: boolean): FleetView {
    const at = this.now();
    this.sweep(at);
    const gateways: FleetGateway[] = [];
    for (const e of this.gateways.values()) {
      const state = e.latest.stopping ? 'stopped' : at - e.lastHeardAt > this.o.goneAfterMs ? 'gone' : 'live';
      const g: FleetGateway = {
        region: e.latest.region,
        gatewayId: e.latest.gatewayId,
        state,
        lastHeardAt: e.lastHeardAt,
        latest: e.latest,
        point: { ...pointOf(e.latest), t: e.lastHeardAt },
      };
      if (withHistory) g.history = e.history.points();
      gateways.push(g);
    }
    gateways.sort((a, b) => a.region.localeCompare(b.region) || a.gatewayId.localeCompare(b.gatewayId));
    return {
      at,
      self: { region: this.o.region, gatewayId: this.o.gatewayId },
      regions: [...this.o.regions],
      bus: this.o.bus.kind,
      busError: this.o.bus.error(),
      goneAfterMs: this.o.goneAfterMs,
      historySec: this.historySec,
      malformed: this.malformed,
      gateways,
    };
  }

  /** Number of gateways kept (tests). */
  get size(): number {
    return this.gateways.size;
  }

  /** Tells the others this gateway is stopping (so they show it at once), then closes the bus. */
  async close(): Promise<void> {
    if (this.last) {
      const last = statsOf({ ...this.last, t: this.now() }, this.o, true);
      this.record(last);
      this.o.bus.publish(last);
    }
    await this.o.bus.close();
  }

  /** Forgets gateways not heard from for the whole history window. */
  private sweep(now: number): void {
    const cut = now - this.historySec * 1000;
    for (const [key, e] of this.gateways) {
      if (e.lastHeardAt < cut) this.gateways.delete(key);
      else e.history.trim(now);
    }
  }

  private evictOldest(): void {
    let oldest: [string, number] | null = null;
    for (const [key, e] of this.gateways) {
      if (!oldest || e.lastHeardAt < oldest[1]) oldest = [key, e.lastHeardAt];
    }
    if (oldest) this.gateways.delete(oldest[0]);
  }
}
