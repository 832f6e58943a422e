/**
 * The migrations a gateway takes part in, for its live dashboard card: read by name from the same
 * registry `/metrics` serves (`chat_store_migration_*` when a store migration is configured for
 * the region, `chat_home_moves*` when home-region moves are), so the card and Prometheus agree and
 * neither migration needs to know about the dashboard.
 */
import type { Registry } from 'prom-client';
import type { MigrationsView } from './types.ts';

type Values = { value: number; labels: Partial<Record<string, string | number>> }[];

async function valuesOf(registry: Registry, name: string): Promise<Values | null> {
  const metric = registry.getSingleMetric(name);
  return metric ? (await metric.get()).values : null;
}

const total = (values: Values | null) => (values ?? []).reduce((n, v) => n + v.value, 0);
const byLabel = (values: Values | null, label: string, value: string) =>
  (values ?? []).filter((v) => String(v.labels[label]) === value).reduce((n, v) => n + v.value, 0);

export async function readMigrations(registry: Registry): Promise<MigrationsView> {
  const [phase, backfill, compared, disagreements, notMirrored, moves, running] = await Promise.all([
    valuesOf(registry, 'chat_store_migration_phase'),
    valuesOf(registry, 'chat_store_migration_backfill'),
    valuesOf(registry, 'chat_store_migration_compared_total'),
    valuesOf(registry, 'chat_store_migration_disagreements_total'),
    valuesOf(registry, 'chat_store_migration_mirror_failures_total'),
    valuesOf(registry, 'chat_home_moves'),
    valuesOf(registry, 'chat_home_moves_running'),
  ]);
  const byPhase: Record<string, number> = {};
  for (const v of moves ?? []) if (v.value > 0) byPhase[String(v.labels.phase)] = v.value;
  return {
    store: phase
      ? {
          phase: String(phase.find((v) => v.value === 1)?.labels.phase ?? 'unknown'),
          conversations: byLabel(backfill, 'figure', 'conversations'),
          messages: byLabel(backfill, 'figure', 'messages'),
          finished: byLabel(backfill, 'figure', 'finished') === 1,
          compared: total(compared),
          disagreements: total(disagreements),
          notMirrored: total(notMirrored),
        }
      : null,
    homeMoves: moves ? { running: total(running), byPhase } : null,
  };
}
