/**
 * A store migration on `/metrics`: the phase each gateway is in (so a gateway that has not
 * followed a change shows up), the backfill's progress as the command last wrote it into the
 * migration state, and the compare phase's reads and disagreements. Read when scraped from the
 * wrapper's counters and the gateway's copy of the state; nothing here is on the message path.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MigrationStats } from './migrating.ts';
import { type MigrationState, STORE_PHASES } from './phase.ts';

export function registerStoreMigrationMetrics(
  registry: Registry,
  stats: MigrationStats,
  state: () => MigrationState,
): void {
  const phase: Gauge<'phase'> = new Gauge({
    name: 'chat_store_migration_phase',
    help: 'Store migration phase this gateway follows: 1 for the current phase, 0 for the others',
    labelNames: ['phase'] as const,
    registers: [registry],
    collect() {
      const current = state().phase;
      for (const p of STORE_PHASES) phase.set({ phase: p }, p === current ? 1 : 0);
    },
  });
  const backfill: Gauge<'figure'> = new Gauge({
    name: 'chat_store_migration_backfill',
    help: 'Backfill progress: conversations and messages copied and verified, batches repaired, finished (0/1)',
    labelNames: ['figure'] as const,
    registers: [registry],
    collect() {
      backfill.reset();
      const p = state().backfill;
      if (!p) return;
      backfill.set({ figure: 'conversations' }, p.conversations);
      backfill.set({ figure: 'messages' }, p.messages);
      backfill.set({ figure: 'repaired_batches' }, p.repairedBatches);
      backfill.set({ figure: 'finished' }, p.finishedAt === null ? 0 : 1);
    },
  });
  // Counters fed from the wrapper's running totals: prom-client counters only go up, so each
  // scrape adds what changed since the last.
  const fromMap = (name: string, help: string, map: Map<string, number>) => {
    const seen = new Map<string, number>();
    const counter: Counter<'op'> = new Counter({
      name,
      help,
      labelNames: ['op'] as const,
      registers: [registry],
      collect() {
        for (const [op, n] of map) {
          const delta = n - (seen.get(op) ?? 0);
          if (delta > 0) counter.inc({ op }, delta);
          seen.set(op, n);
        }
      },
    });
  };
  fromMap(
    'chat_store_migration_compared_total',
    'Reads made on both stores in the compare phase',
    stats.compared,
  );
  fromMap(
    'chat_store_migration_disagreements_total',
    'Reads in the compare phase where the new store answered differently (or failed)',
    stats.disagreements,
  );
  fromMap(
    'chat_store_migration_mirror_failures_total',
    'Writes the authoritative store took but the other store failed (reconciliation repairs them)',
    stats.mirrorFailures,
  );
}
