/**
 * What every `StatsBus` does (`src/dashboard/fleet/bus.ts`): a started bus hears its own stats and
 * those of every other bus on the same network, and a closed one hears nothing and publishes
 * nothing. Publishing is at most once (core NATS), so each check publishes until heard.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { StatsBus } from '../src/dashboard/fleet/bus.ts';
import type { GatewayStats } from '../src/dashboard/types.ts';
import { eventually } from './helpers/eventually.ts';

export function sampleStats(region: string, gatewayId: string, t = Date.now()): GatewayStats {
  return {
    v: 1,
    region,
    gatewayId,
    transport: 'node',
    t,
    stopping: false,
    connections: 2,
    messagesInPerSec: 1.5,
    messagesOutPerSec: 3,
    deliveryMs: { p50: 1, p99: 4 },
    storeMs: { p50: null, p99: null },
    errorRate: null,
    offlineQueue: 0,
    replication: {
      inboxPending: 0,
      error: null,
      peers: [{ region: 'other', reachable: true, inbound: 0, outbound: 3, inboundIdleMs: 800 }],
    },
    alerts: [],
  };
}

/** `network()` gives a factory of buses that hear each other (a fresh network per call). */
export function statsBusContract(name: string, network: () => () => StatsBus): void {
  describe(`StatsBus contract: ${name}`, () => {
    const open: StatsBus[] = [];
    after(async () => {
      await Promise.all(open.map((b) => b.close()));
    });
    const started = async (make: () => StatsBus) => {
      const bus = make();
      open.push(bus);
      const heard: GatewayStats[] = [];
      await bus.start(
        (s) => heard.push(s),
        () => {},
      );
      return { bus, heard };
    };

    // Gateway ids no other test (or run) on the same server uses.
    const id = (name: string) => `${name}-${randomBytes(3).toString('hex')}`;

    it('a bus hears its own stats, whole', async () => {
      const { bus, heard } = await started(network());
      const stats = sampleStats('r1', id('g1'));
      await eventually(
        () => {
          bus.publish(stats);
          assert.ok(heard.length > 0, 'heard');
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      assert.deepEqual(heard[0], stats);
      assert.equal(bus.error(), null);
    });

    it('buses on one network hear each other', async () => {
      const make = network();
      const a = await started(make);
      const b = await started(make);
      const [ga, gb] = [id('ga'), id('gb')];
      await eventually(
        () => {
          a.bus.publish(sampleStats('r1', ga));
          b.bus.publish(sampleStats('r2', gb));
          for (const x of [a, b]) {
            const who = new Set(x.heard.map((s) => `${s.region}/${s.gatewayId}`));
            assert.ok(who.has(`r1/${ga}`) && who.has(`r2/${gb}`), `heard ${[...who].join(',')}`);
          }
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
    });

    it('a closed bus hears nothing more, and publishing on it is a no-op', async () => {
      const make = network();
      const a = await started(make);
      const b = await started(make);
      const [ga, gb, marker] = [id('ga'), id('gb'), id('after-close')];
      await eventually(
        () => {
          a.bus.publish(sampleStats('r1', ga));
          assert.ok(b.heard.some((s) => s.gatewayId === ga));
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      await b.bus.close();
      b.bus.publish(sampleStats('r2', gb));
      const before = b.heard.length;
      await eventually(
        () => {
          a.bus.publish(sampleStats('r1', marker));
          assert.ok(a.heard.some((s) => s.gatewayId === marker));
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      assert.equal(b.heard.length, before, 'nothing delivered after close');
      assert.ok(!a.heard.some((s) => s.gatewayId === gb), 'nothing published after close');
    });
  });
}
