/** Prometheus metrics of home-region moves, in the gateway's registry (`/metrics`). */
import { Counter, Gauge, type Registry } from 'prom-client';
import { type HomeMove, MOVE_PHASES } from '../storage/home-moves.ts';

export class HomeMoveMetrics {
  /** Move records this region's store holds, by phase (every region counts every move). */
  readonly phases: Gauge<'phase'>;
  /** Moves this gateway is driving now. */
  readonly running: Gauge;
  /** Offline-queue entries this gateway sent to a new home (backfill and reconciliation). */
  readonly copied: Counter;
  /** Differences that persisted across two verification rounds, by kind (reconciled). */
  readonly differences: Counter<'kind'>;

  constructor(registry: Registry) {
    this.phases = new Gauge({
      name: 'chat_home_moves',
      help: 'Home-region move records in this region, by phase',
      labelNames: ['phase'],
      registers: [registry],
    });
    this.running = new Gauge({
      name: 'chat_home_moves_running',
      help: 'Home-region moves this gateway is driving',
      registers: [registry],
    });
    this.copied = new Counter({
      name: 'chat_home_move_copied_total',
      help: 'Offline-queue entries copied to a new home region',
      registers: [registry],
    });
    this.differences = new Counter({
      name: 'chat_home_move_differences_total',
      help: 'Differences between old and new home queues that persisted across two verification rounds',
      labelNames: ['kind'],
      registers: [registry],
    });
  }

  /** Counts the records by phase (every phase reported, zero included). */
  observe(moves: readonly HomeMove[]): void {
    const counts = new Map<string, number>(MOVE_PHASES.map((p) => [p, 0]));
    for (const m of moves) counts.set(m.phase, (counts.get(m.phase) ?? 0) + 1);
    for (const [phase, n] of counts) this.phases.set({ phase }, n);
  }
}
