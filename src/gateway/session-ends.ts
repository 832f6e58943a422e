/**
 * Ending users' sessions from the server side: token revocations and operators' disconnects
 * (docs/architecture.md, "Server API"). One revocation is stored in this region's store, handed
 * to the other regions through the outbox (each stores it and ends the sessions there), pushed
 * to this region's other gateways as a control event, and applied here; each gateway keeps the
 * list in memory (`RevocationList`) for the synchronous check at connect, and rereads the store
 * every `api.revocationRefreshMs` in case a push was lost.
 */
import type { Replication } from '../replication/index.ts';
import type { Router, SessionsEnd } from '../routing/types.ts';
import type { RevocationStore } from '../storage/revocations.ts';
import type { Logger } from '../util/log.ts';
import type { GatewayMetrics } from './metrics.ts';
import { RevocationList } from './revocations.ts';
import type { Sessions } from './sessions.ts';

export interface SessionEndsDeps {
  store: RevocationStore;
  router: Router;
  replication?: Replication | undefined;
  sessions: Sessions;
  metrics: GatewayMetrics;
  refreshMs: number;
  log: Logger;
}

export class SessionEnds {
  readonly list = new RevocationList();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly d: SessionEndsDeps) {}

  /** Loads the list before the gateway listens, then rereads it periodically. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => {
        this.d.metrics.backgroundFailures.inc({ stage: 'revocations' });
        this.d.log.warn({ err }, 'rereading token revocations failed; next round retries');
      });
    }, this.d.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Ends sessions everywhere, from this gateway (the server API): stored, replicated, pushed to
   * the region's gateways, applied here. Resolves with how many sessions closed here once every
   * step succeeded; a failure fails the call, and repeating it is harmless.
   */
  async endEverywhere(end: SessionsEnd): Promise<number> {
    if (end.kind === 'revoked') await this.d.store.add(end.revocation);
    await this.d.replication?.endSessions(end);
    const closed = this.applyHere(end);
    await this.d.router.publishControl({ type: 'sessions_ended', end });
    return closed;
  }

  /** Another region's revocation or disconnect (replication), already stored here: end it in this region. */
  async endInRegion(end: SessionsEnd): Promise<void> {
    this.applyHere(end);
    await this.d.router.publishControl({ type: 'sessions_ended', end });
  }

  /** Another gateway of the region pushed it (control event), or this one applies its own. */
  applyHere(end: SessionsEnd): number {
    if (end.kind === 'revoked') this.list.add(end.revocation);
    const closed = this.d.sessions.end(end);
    if (closed > 0) this.d.log.info({ end, closed }, 'sessions ended (4403)');
    return closed;
  }

  /** Rereads the store; a revocation whose push never came ends its sessions now. */
  private async refresh(): Promise<void> {
    const now = Date.now();
    const missed = this.list.merge(await this.d.store.list(now), now);
    for (const revocation of missed) this.d.sessions.end({ kind: 'revoked', revocation });
  }
}
