/**
 * Whether this gateway can serve: its backing services (store, presence, routing, replication)
 * probed in the background, each probe bounded. A service that has failed every probe for
 * `limits.unhealthyAfterMs` makes the gateway not ready; the gateway then tells load balancers
 * (`/readyz` 503) and, when other regions exist, sends its clients there (close 4503, see
 * `gateway.ts`). It becomes ready again by itself once every probe passes.
 *
 * Why a background loop rather than probing on each `/readyz`: the decision to move clients must
 * be taken even when nobody asks, and a service down for a moment (a Redis or NATS reconnect)
 * must not flip readiness back and forth.
 */
import { withDeadline } from '../util/deadline.ts';
import type { Logger } from '../util/log.ts';
import type { GatewayMetrics } from './metrics.ts';

/** A probe that takes longer than this counts as failed (the service is as good as down). */
export const PROBE_TIMEOUT_MS = 2000;

export interface Probe {
  ping(): Promise<void>;
}

export interface BackendHealthDeps {
  /** Name (as `/readyz` shows it) → the service's ping. */
  checks: Readonly<Record<string, Probe>>;
  intervalMs: number;
  unhealthyAfterMs: number;
  probeTimeoutMs?: number;
  metrics: Pick<GatewayMetrics, 'ready' | 'backendUp'>;
  log: Logger;
  /** Readiness changed; `down` names the services down for `unhealthyAfterMs` (empty when ready). */
  onChange: (ready: boolean, down: string[]) => void;
  now?: () => number;
}

interface CheckState {
  /** First failed probe of the current outage (its start); null while the service answers. */
  downSince: number | null;
  error: string | null;
  /** A ping still unsettled (past its deadline): not sent again until it settles. */
  pending: boolean;
}

export interface ReadinessReport {
  /** `degraded`: a service is failing, for less than `unhealthyAfterMs`; still ready. */
  status: 'ready' | 'degraded' | 'not_ready';
  /** Service → `ok`, or `down: …` with the last failure and for how long. */
  checks: Record<string, string>;
}

export class BackendHealth {
  private readonly state = new Map<string, CheckState>();
  private isReady = true;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly d: BackendHealthDeps) {
    this.now = d.now ?? Date.now;
    for (const name of Object.keys(d.checks)) {
      this.state.set(name, { downSince: null, error: null, pending: false });
      d.metrics.backendUp.set({ check: name }, 1);
    }
    d.metrics.ready.set(1);
  }

  /** Ready: no service has been down for `unhealthyAfterMs`. */
  get ready(): boolean {
    return this.isReady;
  }

  /** Runs a first round of probes, then one every `intervalMs` until `stop()`. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.probe();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round: every service probed at once, each within `probeTimeoutMs`; then readiness. */
  async probe(): Promise<void> {
    const timeoutMs = this.d.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    await Promise.all(
      Object.entries(this.d.checks).map(async ([name, probe]) => {
        const st = this.state.get(name)!;
        const startedAt = this.now();
        if (st.pending) {
          // A hung ping is not stacked on: the service still has not answered the last one.
          this.failed(name, st, startedAt, `no answer for over ${timeoutMs} ms`);
          return;
        }
        st.pending = true;
        const ping = probe.ping().finally(() => {
          st.pending = false;
        });
        try {
          await withDeadline(ping, timeoutMs, `no answer within ${timeoutMs} ms`);
          this.answered(name, st);
        } catch (err) {
          this.failed(name, st, startedAt, err instanceof Error ? err.message : String(err));
        }
      }),
    );
    this.evaluate();
  }

  report(): ReadinessReport {
    const now = this.now();
    const checks: Record<string, string> = {};
    let failing = false;
    for (const [name, st] of this.state) {
      if (st.downSince === null) {
        checks[name] = 'ok';
      } else {
        failing = true;
        checks[name] = `down: ${st.error} (for ${((now - st.downSince) / 1000).toFixed(1)} s)`;
      }
    }
    return { status: !this.isReady ? 'not_ready' : failing ? 'degraded' : 'ready', checks };
  }

  private schedule(): void {
    if (this.stopped) return;
    // A fixed rate, not one round after another: a hung ping (bounded by its deadline) must not
    // stretch the time until an outage is noticed. Per service, pings are never stacked.
    this.timer = setInterval(() => {
      this.probe().catch((err: unknown) => {
        // probe() catches each ping's failure; only a bug in onChange lands here. Keep probing.
        this.d.log.error({ err }, 'health probe round failed');
      });
    }, this.d.intervalMs);
    this.timer.unref();
  }

  private answered(name: string, st: CheckState): void {
    if (st.downSince !== null) {
      this.d.log.info({ check: name, downForMs: this.now() - st.downSince }, 'backing service answers again');
    }
    st.downSince = null;
    st.error = null;
    this.d.metrics.backendUp.set({ check: name }, 1);
  }

  private failed(name: string, st: CheckState, at: number, error: string): void {
    if (st.downSince === null) this.d.log.warn({ check: name, error }, 'backing service probe failed');
    // A hung ping reports after the next round has already counted it: the earlier start stands.
    st.downSince = Math.min(st.downSince ?? at, at);
    st.error = error;
    this.d.metrics.backendUp.set({ check: name }, 0);
  }

  private evaluate(): void {
    if (this.stopped) return;
    const now = this.now();
    const down = [...this.state]
      .filter(([, st]) => st.downSince !== null && now - st.downSince >= this.d.unhealthyAfterMs)
      .map(([name]) => name);
    const ready = down.length === 0;
    if (ready === this.isReady) return;
    this.isReady = ready;
    this.d.metrics.ready.set(ready ? 1 : 0);
    if (ready) this.d.log.info('ready again: every backing service answers');
    else {
      this.d.log.error(
        { down, unhealthyAfterMs: this.d.unhealthyAfterMs },
        'not ready: backing services unreachable',
      );
    }
    this.d.onChange(ready, down);
  }
}
