/** The live dashboard's migrations card figures, read from the metrics `/metrics` serves. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { readMigrations } from '../src/dashboard/migrations.ts';
import { DashboardSampler } from '../src/dashboard/sampler.ts';
import { GatewayMetrics } from '../src/gateway/metrics.ts';
import { HomeMoveMetrics } from '../src/homes/metrics.ts';
import { registerStoreMigrationMetrics } from '../src/storage/migration/metrics.ts';
import { MigrationStats } from '../src/storage/migration/migrating.ts';
import { INITIAL_STATE, type MigrationState } from '../src/storage/migration/phase.ts';

describe('dashboard migrations', () => {
  it('shows no migration when none is configured or recorded', async () => {
    const s = { migrations: await readMigrations(new GatewayMetrics().registry) };
    assert.equal(s.migrations.store, null);
    assert.deepEqual(s.migrations.homeMoves?.byPhase ?? {}, {});
  });

  it('reads a store migration and home-region moves from the metrics /metrics serves', async () => {
    const metrics = new GatewayMetrics();
    const stats = new MigrationStats();
    let state: MigrationState = { ...INITIAL_STATE, phase: 'compare' };
    registerStoreMigrationMetrics(metrics.registry, stats, () => state);
    MigrationStats.bump(stats.compared, 'getHistory');
    MigrationStats.bump(stats.compared, 'getHistory');
    MigrationStats.bump(stats.disagreements, 'getHistory');
    state = {
      ...state,
      backfill: { conversations: 3, messages: 120, repairedBatches: 0, startedAt: 1, finishedAt: 2 },
    };
    const moves = new HomeMoveMetrics(metrics.registry);
    moves.phases.set({ phase: 'backfill' }, 2);
    moves.phases.set({ phase: 'done' }, 5);
    moves.running.set(1);
    // What the sampler puts in every sample (and so what the card shows).
    const sampler = new DashboardSampler({
      metrics,
      config: parseConfig({
        regions: [{ name: 'r', id: 0, gateway: { port: 0 } }],
        auth: { secret: 'x'.repeat(32) },
      }).dashboard,
    });
    const s = await sampler.sample();
    assert.deepEqual(s.migrations, await readMigrations(metrics.registry));
    assert.deepEqual(s.migrations.store, {
      phase: 'compare',
      conversations: 3,
      messages: 120,
      finished: true,
      compared: 2,
      disagreements: 1,
      notMirrored: 0,
    });
    assert.deepEqual(s.migrations.homeMoves, { running: 1, byPhase: { backfill: 2, done: 5 } });
  });
});
