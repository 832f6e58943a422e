/**
 * The operations' work that outlives a request (fan-outs, receipts, conversation events) and
 * the sends in flight, tracked so that a graceful stop can wait for them (`drain`).
 */
import { settleWithin } from '../../util/deadline.ts';
import type { Logger } from '../../util/log.ts';
import type { GatewayMetrics } from '../metrics.ts';

export class Tasks {
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {}

  /** True once `drain` was called: new sends are refused. */
  get draining(): boolean {
    return this.stopping;
  }

  /** Tracks `p` until it settles; returns it unchanged. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  /** Tracks work nobody awaits; a failure is counted and logged under `stage`. */
  background(stage: string, p: Promise<unknown>): void {
    this.track(p).catch((err) => {
      this.metrics.backgroundFailures.inc({ stage });
      this.log.error({ err, stage }, `background ${stage} failed`);
    });
  }

  /**
   * Stop taking new sends (SIGTERM) and wait for the work in flight, at most `timeoutMs`.
   * Resolves with how many operations were still in flight when the wait ended (0: all done).
   */
  async drain(timeoutMs: number): Promise<number> {
    this.stopping = true;
    const pending = [...this.inFlight];
    const all = Promise.allSettled(pending).then(() => true);
    if (await settleWithin(all, timeoutMs, false)) return 0;
    return pending.filter((p) => this.inFlight.has(p)).length;
  }
}
