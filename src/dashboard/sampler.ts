/**
 * Turns one gateway's Prometheus metrics into the figures the live dashboard shows, once per
 * `dashboard.intervalMs`: per-second rates from counter deltas, p50/p99 latencies and the error
 * rate over a sliding window of `dashboard.windowSec`, the cross-region backlog, and alerts.
 * It reads the same registry `/metrics` serves, so the dashboard and Prometheus agree.
 */
import type { DashboardConfig } from '../config/schema.ts';
import { ErrorCode } from '../errors.ts';
import type { GatewayMetrics } from '../gateway/metrics.ts';
import type { CrossRegionBacklog } from '../replication/backlog.ts';
import type { Logger } from '../util/log.ts';
import type { WebhookMetrics } from '../webhooks/metrics.ts';
import { readMigrations } from './migrations.ts';
import { type BucketReading, bucketDelta, histogramQuantile } from './quantile.ts';
import type { DashboardAlert, DashboardSample, MigrationsView, Percentiles, RegionsView } from './types.ts';

export type { DashboardAlert, DashboardSample, Percentiles, RegionsView } from './types.ts';

/** Samples kept for sparklines and for dashboards that connect later (two minutes at 1 s). */
export const HISTORY_SAMPLES = 120;
/** The backlog is read from JetStream at most this often (each read is three API requests per peer). */
const BACKLOG_EVERY_MS = 2000;
/** A JetStream API request that takes longer than this counts as unanswered. */
const BACKLOG_TIMEOUT_MS = 2000;

/** Cumulative values at one instant. */
interface Reading {
  t: number;
  connections: number;
  stored: number;
  delivered: number;
  framesIn: number;
  opened: number;
  errors: Map<string, number>;
  enqueued: number;
  acked: number;
  store: BucketReading;
  delivery: BucketReading;
  webhooks: WebhookReading | null;
  migrations: MigrationsView;
}

interface WebhookReading {
  delivered: number;
  failed: number;
  lag: BucketReading;
  depth: number;
  dead: number;
}

export interface SamplerDeps {
  metrics: GatewayMetrics;
  config: DashboardConfig;
  /** The gateway's webhook metrics; absent when no endpoint is configured. */
  webhooks?: WebhookMetrics | null;
  /** Reads the cross-region backlog; absent in a single-region deployment. */
  backlog?: (timeoutMs: number) => Promise<CrossRegionBacklog>;
  now?: () => number;
  /** Default: silent (tests build a sampler on its own). */
  log?: Logger;
}

export class DashboardSampler {
  private readonly readings: Reading[] = [];
  private readonly samples: DashboardSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;
  private regions: RegionsView | null;
  private backlogAt = 0;
  private backlogInFlight: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly d: SamplerDeps) {
    this.now = d.now ?? Date.now;
    this.regions = d.backlog ? { backlog: null, error: null, readAt: null } : null;
  }

  /** The samples kept, oldest first. */
  history(): DashboardSample[] {
    return [...this.samples];
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /** Samples every `intervalMs` and hands each sample to `onSample` until `stop()`. */
  start(onSample: (sample: DashboardSample) => void): void {
    if (this.timer) return;
    const tick = () => {
      if (this.sampling) return;
      this.sampling = true;
      this.sample().then(
        (s) => {
          this.sampling = false;
          if (this.timer) onSample(s);
        },
        (err: unknown) => {
          this.sampling = false;
          this.d.log?.error({ err }, 'dashboard sample failed');
        },
      );
    };
    this.timer = setInterval(tick, this.d.config.intervalMs);
    this.timer.unref();
    tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Takes one sample now (also what the timer calls). */
  async sample(): Promise<DashboardSample> {
    const reading = await this.read();
    this.refreshBacklog();
    const prev = this.readings[this.readings.length - 1] ?? null;
    this.readings.push(reading);
    const windowMs = this.d.config.windowSec * 1000;
    // Keep one reading at or before the window's start, so the window is always fully covered.
    while (this.readings.length > 2 && this.readings[1]!.t <= reading.t - windowMs) this.readings.shift();
    const base = this.readings.length > 1 ? this.readings[0]! : null;
    const sample = this.compute(reading, prev, base);
    this.samples.push(sample);
    if (this.samples.length > HISTORY_SAMPLES) this.samples.shift();
    return sample;
  }

  private compute(now: Reading, prev: Reading | null, base: Reading | null): DashboardSample {
    const cfg = this.d.config;
    const rate = (a: number, b: number | undefined, since: Reading | null) => {
      if (!since || b === undefined) return 0;
      const dt = (now.t - since.t) / 1000;
      return dt > 0 ? Math.max(0, a - b) / dt : 0;
    };
    const errorsTotal = sum(now.errors.values());
    const windowErrors = new Map<string, number>();
    for (const [code, n] of now.errors) {
      const d = n - (base?.errors.get(code) ?? 0);
      if (d > 0) windowErrors.set(code, d);
    }
    const errorsInWindow = sum(windowErrors.values());
    // Refused upgrades are errors without a frame: count them as requests too.
    const refused = (r: Reading | null) => r?.errors.get(ErrorCode.Unauthorized) ?? 0;
    const requests = base
      ? now.framesIn - base.framesIn + (now.opened - base.opened) + (refused(now) - refused(base))
      : now.framesIn + now.opened + refused(now);
    const errorRate = requests > 0 ? Math.min(1, errorsInWindow / requests) : null;
    const windowSec = base ? (now.t - base.t) / 1000 : 0;
    const errorsPerSec: Record<string, number> = {};
    for (const [code, n] of windowErrors) errorsPerSec[code] = windowSec > 0 ? n / windowSec : 0;
    const pct = (h: BucketReading): Percentiles => ({
      p50: toMs(histogramQuantile(0.5, h)),
      p99: toMs(histogramQuantile(0.99, h)),
    });
    const alerts: DashboardAlert[] = [];
    if (errorRate !== null && requests >= cfg.errorRateMinRequests && errorRate > cfg.errorRateAlert) {
      alerts.push({
        kind: 'error_rate',
        message:
          `Error rate ${(errorRate * 100).toFixed(1)}% over the last ${Math.round(windowSec)} s ` +
          `(${errorsInWindow} of ${requests} requests; threshold ${(cfg.errorRateAlert * 100).toFixed(1)}%)`,
      });
    }
    alerts.push(...this.regionAlerts());
    const wn = now.webhooks;
    if (wn && wn.dead > 0) {
      alerts.push({
        kind: 'webhooks',
        message: `${wn.dead} webhook event(s) in the dead letters: fix the receiver, then replay them (server API)`,
      });
    }
    return {
      t: now.t,
      connections: now.connections,
      messagesInPerSec: rate(now.stored, prev?.stored, prev),
      messagesOutPerSec: rate(now.delivered, prev?.delivered, prev),
      deliveryMs: pct(bucketDelta(now.delivery, base?.delivery ?? null)),
      storeMs: pct(bucketDelta(now.store, base?.store ?? null)),
      errorRate,
      requestsInWindow: requests,
      errorsPerSec,
      offlineQueue: Math.max(0, now.enqueued - now.acked),
      regions: this.regions ? { ...this.regions } : null,
      webhooks: wn
        ? {
            deliveredPerSec: rate(wn.delivered, prev?.webhooks?.delivered, prev),
            failedPerSec: rate(wn.failed, prev?.webhooks?.failed, prev),
            lagMs: pct(bucketDelta(wn.lag, base?.webhooks?.lag ?? null)),
            queueDepth: wn.depth,
            deadLetters: wn.dead,
          }
        : null,
      migrations: now.migrations,
      alerts,
      totals: {
        messagesStored: now.stored,
        messagesDelivered: now.delivered,
        errors: errorsTotal,
        connectionsOpened: now.opened,
      },
    };
  }

  private regionAlerts(): DashboardAlert[] {
    const view = this.regions;
    if (!view) return [];
    if (view.error) {
      return [{ kind: 'replication', message: `Cross-region link unavailable: ${view.error}` }];
    }
    const alerts: DashboardAlert[] = [];
    const limit = this.d.config.regionUnreachableMs;
    for (const peer of view.backlog?.peers ?? []) {
      if (!peer.reachable) {
        alerts.push({
          kind: 'region_unreachable',
          region: peer.region,
          message: `Region ${peer.region} unreachable${peer.error ? ` (${peer.error})` : ''}`,
        });
      } else if (peer.inboundIdleMs !== null && peer.inboundIdleMs > limit) {
        alerts.push({
          kind: 'region_unreachable',
          region: peer.region,
          message: `Region ${peer.region}: nothing received for ${Math.round(peer.inboundIdleMs / 1000)} s`,
        });
      }
    }
    return alerts;
  }

  /** Starts a backlog read when the last one is old enough; the next sample shows its result. */
  private refreshBacklog(): void {
    const backlog = this.d.backlog;
    if (!backlog || this.backlogInFlight) return;
    const t = this.now();
    if (t - this.backlogAt < BACKLOG_EVERY_MS && this.regions?.readAt != null) return;
    this.backlogAt = t;
    this.backlogInFlight = backlog(BACKLOG_TIMEOUT_MS).then(
      (b) => {
        this.regions = { backlog: b, error: null, readAt: this.now() };
      },
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        this.regions = {
          backlog: this.regions?.backlog ?? null,
          error: message,
          readAt: this.regions?.readAt ?? null,
        };
      },
    );
    void this.backlogInFlight.finally(() => {
      this.backlogInFlight = null;
    });
  }

  /** Waits for a backlog read in progress (tests). */
  async settled(): Promise<void> {
    await this.backlogInFlight;
  }

  private async read(): Promise<Reading> {
    const m = this.d.metrics;
    const [connections, stored, delivered, framesIn, opened, errors, enqueued, acked, store, delivery] =
      await Promise.all([
        gaugeValue(m.connections),
        counterTotal(m.messagesStored),
        counterTotal(m.messagesDelivered),
        counterTotal(m.framesIn),
        counterTotal(m.connectionsOpened),
        counterByLabel(m.errors, 'code'),
        counterTotal(m.offlineEnqueued),
        counterTotal(m.offlineAcked),
        buckets(m.storeLatency),
        buckets(m.deliveryLatency),
      ]);
    return {
      t: this.now(),
      webhooks: this.d.webhooks ? await readWebhooks(this.d.webhooks) : null,
      migrations: await readMigrations(m.registry),
      connections,
      stored,
      delivered,
      framesIn,
      opened,
      errors,
      enqueued,
      acked,
      store,
      delivery,
    };
  }
}

async function readWebhooks(w: WebhookMetrics): Promise<WebhookReading> {
  const [outcomes, lag, depth, dead] = await Promise.all([
    counterByLabel(w.deliveries, 'outcome'),
    buckets(w.lag),
    gaugeValue(w.queueDepth),
    gaugeValue(w.deadLetters),
  ]);
  return {
    delivered: outcomes.get('delivered') ?? 0,
    failed: (outcomes.get('retried') ?? 0) + (outcomes.get('dead') ?? 0),
    lag,
    depth,
    dead,
  };
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function toMs(seconds: number | null): number | null {
  return seconds === null ? null : seconds * 1000;
}

/** What the sampler needs of a prom-client metric, whatever its label names. */
interface Readable {
  get(): Promise<{
    values: { value: number; labels: Partial<Record<string, string | number>>; metricName?: string }[];
  }>;
}

async function counterTotal(c: Readable): Promise<number> {
  return sum((await c.get()).values.map((v) => v.value));
}

async function counterByLabel(c: Readable, label: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of (await c.get()).values) {
    const key = String(v.labels[label] ?? '');
    out.set(key, (out.get(key) ?? 0) + v.value);
  }
  return out;
}

async function gaugeValue(g: Readable): Promise<number> {
  return sum((await g.get()).values.map((v) => v.value));
}

async function buckets(h: Readable): Promise<BucketReading> {
  const rows: [number, number][] = [];
  for (const v of (await h.get()).values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = v.labels.le;
    rows.push([le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v.value]);
  }
  rows.sort((a, b) => a[0] - b[0]);
  return { bounds: rows.map((r) => r[0]), cumulative: rows.map((r) => r[1]) };
}
