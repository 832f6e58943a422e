/**
 * The deployment view (`src/dashboard/fleet/`): each gateway's bounded last hour, liveness and
 * expiry of gateways, the stats wire format, and the in-process bus (its contract; the NATS one
 * runs it in test/integration/fleet-view.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import type { StatsBus } from '../src/dashboard/fleet/bus.ts';
import {
  decodeStats,
  encodeStats,
  Fleet,
  GatewayHistory,
  MemoryStatsBus,
  MemoryStatsHub,
  mergePoints,
  pointOf,
  statsOf,
} from '../src/dashboard/fleet/index.ts';
import { DashboardSampler } from '../src/dashboard/sampler.ts';
import { GatewayMetrics } from '../src/gateway/metrics.ts';
import { sampleStats, statsBusContract } from './stats-bus.contract.ts';

statsBusContract('memory', () => {
  const hub = new MemoryStatsHub();
  return () => new MemoryStatsBus(hub);
});

describe('GatewayHistory', () => {
  const at = (t: number, v = 1) => ({ ...pointOf(sampleStats('r', 'g', t)), messagesInPerSec: v });

  it('keeps an hour at one sample a second in at most recent + one point per older minute', () => {
    const h = new GatewayHistory({ historySec: 3600, recentSec: 300 });
    const start = 1_800_000_000_000;
    // Two hours of samples: the first hour must be gone, the second bounded.
    for (let s = 0; s < 7200; s++) {
      h.add(at(start + s * 1000));
      assert.ok(h.size <= 300 + 61, `size ${h.size} at ${s}`);
    }
    const points = h.points();
    const end = start + 7199 * 1000;
    assert.ok(points[0]!.t >= end - 3600 * 1000, 'nothing older than the hour');
    assert.ok(points.length >= 300 + 54, `the whole hour is covered: ${points.length}`);
    for (let i = 1; i < points.length; i++) assert.ok(points[i]!.t > points[i - 1]!.t, 'oldest first');
    // The full-resolution part is the last 300 s; the rest are minutes of ~60 samples each.
    assert.equal(points.filter((p) => p.n === 1).length, 301);
    assert.ok(points.filter((p) => p.n > 1).every((p) => p.n <= 60));
  });

  it('merges a minute as means of rates and the worst of latencies and lag', () => {
    const a = { ...at(1000, 2), deliveryP99: 5, inboundLag: 10, connections: 4 };
    const b = { ...at(2000, 4), deliveryP99: 50, inboundLag: null, connections: 8 };
    const m = mergePoints(mergePoints(a, b), {
      ...at(3000, 6),
      deliveryP99: null,
      inboundLag: 3,
      connections: 6,
    });
    assert.equal(m.n, 3);
    assert.equal(m.t, 3000);
    assert.equal(m.messagesInPerSec, 4);
    assert.equal(m.connections, 6);
    assert.equal(m.deliveryP99, 50);
    assert.equal(m.inboundLag, 10);
  });

  it('caps full-resolution points when a gateway publishes faster than once a second', () => {
    const h = new GatewayHistory({ historySec: 3600, recentSec: 10 });
    for (let i = 0; i < 1000; i++) h.add(at(1_000_000 + i * 10));
    assert.ok(h.size <= 20 + 1, `size ${h.size}`);
  });

  it('ignores a point not newer than the last', () => {
    const h = new GatewayHistory();
    h.add(at(5000));
    h.add(at(5000));
    h.add(at(4000));
    assert.equal(h.size, 1);
  });
});

describe('Fleet', () => {
  const setup = (opts: { goneAfterMs?: number; historySec?: number; maxGateways?: number } = {}) => {
    let now = 1_800_000_000_000;
    const fleet = new Fleet({
      region: 'r1',
      gatewayId: 'g1',
      transport: 'node',
      regions: ['r1', 'r2', 'r3'],
      bus: new MemoryStatsBus(),
      goneAfterMs: opts.goneAfterMs ?? 5000,
      historySec: opts.historySec ?? 3600,
      ...(opts.maxGateways ? { maxGateways: opts.maxGateways } : {}),
      now: () => now,
    });
    return { fleet, advance: (ms: number) => (now += ms), now: () => now };
  };
  const states = (f: Fleet) =>
    Object.fromEntries(f.view(false).gateways.map((g) => [`${g.region}/${g.gatewayId}`, g.state]));

  it('shows a silent gateway gone after goneAfterMs, keeps it for the hour, then forgets it', () => {
    const { fleet, advance, now } = setup({ goneAfterMs: 5000, historySec: 60 });
    fleet.record(sampleStats('r1', 'g1', now()));
    fleet.record(sampleStats('r2', 'g2', now()));
    assert.deepEqual(states(fleet), { 'r1/g1': 'live', 'r2/g2': 'live' });
    for (let i = 0; i < 5; i++) {
      advance(1000);
      fleet.record(sampleStats('r1', 'g1', now()));
    }
    advance(1);
    assert.deepEqual(states(fleet), { 'r1/g1': 'live', 'r2/g2': 'gone' });
    const gone = fleet.view(true).gateways.find((g) => g.gatewayId === 'g2')!;
    assert.equal(gone.history?.length, 1, 'its history is kept');
    // g2 was last heard 60 001 ms ago (past the window), g1 55 001 ms ago.
    advance(55_000);
    assert.deepEqual(states(fleet), { 'r1/g1': 'gone' });
    assert.equal(fleet.size, 1);
  });

  it('shows a gateway that said it is stopping as stopped at once, and live again when it is back', () => {
    const { fleet, advance, now } = setup();
    fleet.record({ ...sampleStats('r2', 'g2', now()), stopping: true });
    assert.deepEqual(states(fleet), { 'r2/g2': 'stopped' });
    advance(1000);
    fleet.record(sampleStats('r2', 'g2', now()));
    assert.deepEqual(states(fleet), { 'r2/g2': 'live' });
  });

  it('keeps at most maxGateways, replacing the one heard from longest ago', () => {
    const { fleet, advance, now } = setup({ maxGateways: 3 });
    for (const g of ['a', 'b', 'c', 'd']) {
      fleet.record(sampleStats('r1', g, now()));
      advance(10);
    }
    assert.deepEqual(Object.keys(states(fleet)), ['r1/b', 'r1/c', 'r1/d']);
  });

  it('lists every configured region, its bus and history bound, and the latest point per gateway', () => {
    const { fleet, now } = setup();
    fleet.record(sampleStats('r2', 'g2', now() - 7000));
    const v = fleet.view(false);
    assert.deepEqual(v.regions, ['r1', 'r2', 'r3']);
    assert.equal(v.bus, 'memory');
    assert.equal(v.busError, null);
    assert.equal(v.historySec, 60 * 60);
    const g = v.gateways[0]!;
    assert.equal(g.history, undefined, 'no history in per-second updates');
    assert.equal(g.point.t, now(), "points are on this gateway's clock");
    assert.equal(g.point.outboundLag, 3);
    assert.equal(g.point.inboundLag, 0);
  });

  it('records its own figures as it publishes them, and ignores their echo on the bus', async () => {
    const metrics = new GatewayMetrics();
    const config = parseConfig({
      regions: [{ name: 'solo', id: 0, gateway: { port: 0 } }],
      auth: { secret: 'x'.repeat(32) },
    });
    const sampler = new DashboardSampler({ metrics, config: config.dashboard });
    const fleet = new Fleet({
      region: 'solo',
      gatewayId: 'gw',
      transport: 'uws',
      regions: ['solo'],
      bus: new MemoryStatsBus(),
      goneAfterMs: config.dashboard.fleetGoneMs,
    });
    await fleet.start();
    metrics.connections.set(7);
    fleet.publish(await sampler.sample());
    const [g] = fleet.view(true).gateways;
    assert.equal(g?.gatewayId, 'gw');
    assert.equal(g?.latest.transport, 'uws');
    assert.equal(g?.latest.connections, 7);
    assert.equal(g?.latest.replication, null, 'single region');
    assert.equal(g?.history?.length, 1);
    await fleet.close();
    assert.equal(fleet.view(false).gateways[0]?.state, 'stopped', 'its own last word is recorded too');
  });

  it('hears the others on a shared bus, its own echo not counted twice', async () => {
    let now = 1_800_000_000_000;
    const hub = new MemoryStatsHub();
    const make = (gatewayId: string) =>
      new Fleet({
        region: 'r',
        gatewayId,
        transport: 'node',
        regions: ['r'],
        bus: new MemoryStatsBus(hub),
        goneAfterMs: 5000,
        now: () => now,
      });
    const [a, b] = [make('a'), make('b')];
    await Promise.all([a.start(), b.start()]);
    const cfg = parseConfig({
      regions: [{ name: 'r', id: 0, gateway: { port: 0 } }],
      auth: { secret: 'x'.repeat(32) },
    }).dashboard;
    const sample = async () => new DashboardSampler({ metrics: new GatewayMetrics(), config: cfg }).sample();
    a.publish(await sample());
    now += 1;
    b.publish(await sample());
    for (const f of [a, b]) {
      const v = f.view(true);
      assert.deepEqual(
        v.gateways.map((g) => [g.gatewayId, g.history?.length]),
        [
          ['a', 1],
          ['b', 1],
        ],
      );
    }
  });

  it('shows its own figures, and why it hears nobody, while the bus is down', async () => {
    const down: StatsBus = {
      kind: 'nats',
      start: async () => {},
      publish: () => {},
      error: () => 'NATS disconnected; reconnecting',
      close: async () => {},
    };
    const fleet = new Fleet({
      region: 'r',
      gatewayId: 'g',
      transport: 'node',
      regions: ['r', 'q'],
      bus: down,
      goneAfterMs: 5000,
    });
    await fleet.start();
    fleet.publish(
      await new DashboardSampler({
        metrics: new GatewayMetrics(),
        config: parseConfig({
          regions: [{ name: 'r', id: 0, gateway: { port: 0 } }],
          auth: { secret: 'x'.repeat(32) },
        }).dashboard,
      }).sample(),
    );
    const v = fleet.view(false);
    assert.equal(v.busError, 'NATS disconnected; reconnecting');
    assert.deepEqual(
      v.gateways.map((g) => [g.region, g.gatewayId, g.state]),
      [['r', 'g', 'live']],
    );
  });
});

describe('the stats wire format', () => {
  it('round-trips GatewayStats, built from a sample', () => {
    const s = sampleStats('r', 'g');
    assert.deepEqual(decodeStats(encodeStats(s)), s);
  });

  it('refuses what is not GatewayStats', () => {
    const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    assert.throws(() => decodeStats(new TextEncoder().encode('{not json')), SyntaxError);
    assert.throws(() => decodeStats(bytes({ ...sampleStats('r', 'g'), v: 2 })));
    assert.throws(() => decodeStats(bytes({ ...sampleStats('r', 'g'), connections: -1 })));
    const { alerts: _alerts, ...partial } = sampleStats('r', 'g');
    assert.throws(() => decodeStats(bytes(partial)));
  });

  it('statsOf carries the replication backlog per peer', () => {
    const stats = statsOf(
      {
        t: 1,
        connections: 0,
        messagesInPerSec: 0,
        messagesOutPerSec: 0,
        deliveryMs: { p50: null, p99: null },
        storeMs: { p50: null, p99: null },
        errorRate: null,
        requestsInWindow: 0,
        errorsPerSec: {},
        offlineQueue: 0,
        regions: {
          backlog: {
            region: 'a',
            inboxPending: 2,
            peers: [
              { region: 'b', reachable: false, inbound: null, outbound: 5, inboundIdleMs: null, error: 'x' },
            ],
          },
          error: null,
          readAt: 1,
        },
        webhooks: null,
        migrations: { store: null, homeMoves: null },
        alerts: [],
        totals: { messagesStored: 0, messagesDelivered: 0, errors: 0, connectionsOpened: 0 },
      },
      { region: 'a', gatewayId: 'g', transport: 'node' },
    );
    assert.deepEqual(stats.replication, {
      inboxPending: 2,
      error: null,
      peers: [{ region: 'b', reachable: false, inbound: null, outbound: 5, inboundIdleMs: null }],
    });
    assert.deepEqual(decodeStats(encodeStats(stats)), stats);
  });
});
