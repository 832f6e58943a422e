/**
 * One gateway's last hour, in bounded memory: the last `recentSec` seconds at full resolution (one
 * point per published sample), older ones merged into one point per minute. At the defaults that
 * is at most 300 + 55 points per gateway, whatever the publish rate, instead of 3600: an hour's
 * chart is a few hundred pixels wide, so per-minute points lose nothing it can show, while the
 * last minutes keep each spike (a p99 or lag spike survives a merge: those take the maximum).
 */
import type { FleetPoint, GatewayStats } from '../types.ts';

/** How much history is kept (seconds). */
export const HISTORY_SEC = 3600;
/** The most recent seconds kept at full resolution. */
export const RECENT_SEC = 300;
const MINUTE_MS = 60_000;

export interface HistoryBounds {
  historySec: number;
  recentSec: number;
}

/** The point one published sample makes. */
export function pointOf(s: GatewayStats): FleetPoint {
  const peers = s.replication?.peers ?? [];
  const most = (f: (p: (typeof peers)[number]) => number | null): number | null => {
    let m: number | null = null;
    for (const p of peers) {
      const v = f(p);
      if (v !== null && (m === null || v > m)) m = v;
    }
    return m;
  };
  return {
    t: s.t,
    n: 1,
    connections: s.connections,
    messagesInPerSec: s.messagesInPerSec,
    messagesOutPerSec: s.messagesOutPerSec,
    deliveryP99: s.deliveryMs.p99,
    storeP99: s.storeMs.p99,
    errorRate: s.errorRate,
    offlineQueue: s.offlineQueue,
    inboundLag: most((p) => p.inbound),
    outboundLag: most((p) => p.outbound),
  };
}

const maxOf = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.max(a, b);
const meanOf = (a: number, an: number, b: number, bn: number): number => (a * an + b * bn) / (an + bn);

/** Merges `b` into `a`: counts and rates averaged, latencies, error rate and lag the worst of both. */
export function mergePoints(a: FleetPoint, b: FleetPoint): FleetPoint {
  return {
    t: Math.max(a.t, b.t),
    n: a.n + b.n,
    connections: meanOf(a.connections, a.n, b.connections, b.n),
    messagesInPerSec: meanOf(a.messagesInPerSec, a.n, b.messagesInPerSec, b.n),
    messagesOutPerSec: meanOf(a.messagesOutPerSec, a.n, b.messagesOutPerSec, b.n),
    deliveryP99: maxOf(a.deliveryP99, b.deliveryP99),
    storeP99: maxOf(a.storeP99, b.storeP99),
    errorRate: maxOf(a.errorRate, b.errorRate),
    offlineQueue: meanOf(a.offlineQueue, a.n, b.offlineQueue, b.n),
    inboundLag: maxOf(a.inboundLag, b.inboundLag),
    outboundLag: maxOf(a.outboundLag, b.outboundLag),
  };
}

export class GatewayHistory {
  /** Full-resolution points, oldest first, none older than `recentSec` before the newest. */
  private readonly recent: FleetPoint[] = [];
  /** One merged point per minute, oldest first. */
  private readonly minutes: FleetPoint[] = [];
  private readonly recentCap: number;

  constructor(private readonly bounds: HistoryBounds = { historySec: HISTORY_SEC, recentSec: RECENT_SEC }) {
    // A gateway publishing faster than once a second (a small `intervalMs`) must not grow this:
    // past the cap the oldest full-resolution points are merged early.
    this.recentCap = bounds.recentSec * 2;
  }

  /** Adds a point; points older than the newest are ignored (a late duplicate or a clock step back). */
  add(p: FleetPoint): void {
    const last = this.recent[this.recent.length - 1];
    if (last && p.t <= last.t) return;
    this.recent.push(p);
    const cut = p.t - this.bounds.recentSec * 1000;
    while (this.recent.length > 0 && (this.recent[0]!.t < cut || this.recent.length > this.recentCap)) {
      this.fold(this.recent.shift()!);
    }
    this.trim(p.t);
  }

  /** Drops what is older than the window before `now`. */
  trim(now: number): void {
    const cut = now - this.bounds.historySec * 1000;
    while (this.minutes.length > 0 && this.minutes[0]!.t < cut) this.minutes.shift();
    while (this.recent.length > 0 && this.recent[0]!.t < cut) this.recent.shift();
  }

  /** Oldest first: the per-minute points, then the recent ones. */
  points(): FleetPoint[] {
    return [...this.minutes, ...this.recent];
  }

  get size(): number {
    return this.minutes.length + this.recent.length;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  private fold(p: FleetPoint): void {
    const minute = Math.floor(p.t / MINUTE_MS);
    const last = this.minutes[this.minutes.length - 1];
    if (last && Math.floor(last.t / MINUTE_MS) === minute) {
      this.minutes[this.minutes.length - 1] = mergePoints(last, p);
    } else {
      this.minutes.push({ ...p });
    }
  }
}
