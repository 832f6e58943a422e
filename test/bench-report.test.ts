// The bench's judgement of issue 12's targets and its thread grouping, on hand-made rows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Row } from '../bench/lib/context.ts';
import { servicesOf } from '../bench/lib/context.ts';
import type { TargetName } from '../bench/lib/targets.ts';
import { SHARED_POOL_GROUP, threadGroup } from '../bench/lib/thread-cpu.ts';
import { halfCapacityStep, issueTargets } from '../bench/report/targets.ts';

function row(scenario: string, target: TargetName, rate: number, extra: Partial<Row> = {}): Row {
  return {
    scenario,
    target,
    connections: 400,
    rate,
    msgs_per_s: rate,
    deliveries_per_s: rate,
    p50_ms: 1,
    p95_ms: 2,
    p99_ms: 5,
    max_ms: 9,
    errors: 0,
    rss_bytes: 0,
    cpu_s: 1,
    sustained: true,
    ...extra,
  };
}

describe('bench thread groups', () => {
  it('groups pool workers without their numbers, and the shared request pool as one', () => {
    assert.equal(threadGroup('CompactionExecutor:2'), 'CompactionExecutor');
    assert.equal(threadGroup('GC Thread#1'), 'GC Thread');
    assert.equal(threadGroup('C2 CompilerThre'), 'C2 CompilerThre');
    for (const name of ['Native-Transpor', 'ReadStage-3', 'MutationStage-1', 'SharedPool-Work']) {
      assert.equal(threadGroup(name), SHARED_POOL_GROUP);
    }
  });
});

describe('bench servicesOf', () => {
  it('counts each target’s own services only', () => {
    assert.deepEqual(servicesOf('gateway', 'cassandra'), ['cassandra', 'redis', 'nats']);
    assert.deepEqual(servicesOf('gateway', 'embedded'), ['redis', 'nats']);
    assert.deepEqual(servicesOf('baseline-socketio', 'cassandra'), ['redis']);
    assert.deepEqual(servicesOf('bare-uws', 'cassandra'), []);
  });
});

describe('bench issue 12 targets', () => {
  const rows: Row[] = [
    row('dm', 'gateway', 500, { p99_ms: 12, cpu_ms_per_msg: 1.2 }),
    row('dm', 'gateway', 1000, { p99_ms: 30, cpu_ms_per_msg: 0.6 }),
    row('dm', 'gateway', 2000, { msgs_per_s: 1800, sustained: false }),
    row('dm', 'baseline-socketio', 1000, { cpu_ms_per_msg: 0.3 }),
    row('dm', 'baseline-socketio', 2000, { msgs_per_s: 2000, cpu_ms_per_msg: 0.2 }),
    row('dm', 'baseline-socketio', 4000, { msgs_per_s: 3600, sustained: false }),
  ];
  const byId = (id: string) => issueTargets(rows).find((t) => t.id === id);

  it('compares capacities as the highest acked rates', () => {
    const t = byId('dm.capacity');
    assert.equal(t?.value, 0.5);
    assert.equal(t?.met, false);
  });

  it('compares CPU per DM at the highest rate both sustained', () => {
    const t = byId('dm.cpu_per_msg');
    assert.equal(t?.value, 2);
    assert.equal(t?.met, false);
    assert.match(t?.measured ?? '', /both at 1000\/s/);
  });

  it('reads p99 at the step nearest half the capacity', () => {
    assert.equal(halfCapacityStep(rows, 'dm', 'gateway')?.rate, 1000);
    const t = byId('dm.p99_half');
    assert.equal(t?.value, 30);
    assert.equal(t?.met, false);
  });

  it('does not call a capacity missed when its ladder ended sustained (a lower bound)', () => {
    const xr = [...rows, row('xregion', 'gateway', 800)];
    const t = issueTargets(xr).find((x) => x.id === 'xregion.capacity');
    assert.equal(t?.value, 0.44);
    assert.equal(t?.met, null);
    assert.match(t?.measured ?? '', /lower bound/);
  });

  it('says n/a, not missed, when a scenario did not run', () => {
    assert.equal(byId('room.capacity')?.met, null);
    assert.equal(byId('idle.after_gc')?.met, null);
  });
});
