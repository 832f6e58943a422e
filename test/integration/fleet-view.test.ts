/**
 * The deployment view on real NATS: the NATS `StatsBus` passes the bus contract, unreadable stats
 * are counted and not shown, and with three regions on a NATS supercluster (embedded storage, one
 * gateway each) one gateway's `/dashboard/fleet` and its dashboard page (Chromium) list the
 * gateways of every region with their cross-region lag within a few seconds; a stopping gateway
 * is shown stopped at once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { parseConfig } from '../../src/config/load.ts';
import type { ChatConfig } from '../../src/config/schema.ts';
import { Fleet, NatsStatsBus, statsSubject } from '../../src/dashboard/fleet/index.ts';
import type { FleetView } from '../../src/dashboard/types.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { silentLogger } from '../../src/util/log.ts';
import { launchChromium } from '../helpers/browser.ts';
import { eventually } from '../helpers/eventually.ts';
import { TEST_SECRET } from '../helpers/gateway.ts';
import { type NatsHandle, type NatsSupercluster, startNats, startNatsSupercluster } from '../helpers/nats.ts';
import { startRegionGateways } from '../helpers/region-gateways.ts';
import { sampleStats, statsBusContract } from '../stats-bus.contract.ts';

let nats: NatsHandle;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.close();
});

statsBusContract(
  'nats',
  () => () => new NatsStatsBus({ servers: [nats.url], gatewayId: 'contract', log: silentLogger }),
);

describe('NatsStatsBus', () => {
  it('counts and ignores what is not a gateway’s stats, or names another gateway than its subject', async () => {
    const bus = new NatsStatsBus({ servers: [nats.url], gatewayId: 'g-m', log: silentLogger });
    const fleet = new Fleet({
      region: 'r',
      gatewayId: 'g-m',
      transport: 'node',
      regions: ['r'],
      bus,
      goneAfterMs: 5000,
    });
    await fleet.start();
    await bus.ready();
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish('stats.r.bad', new TextEncoder().encode('{"v":1'));
      nc.publish(
        statsSubject('r', 'liar'),
        new TextEncoder().encode(JSON.stringify(sampleStats('r', 'other'))),
      );
      await nc.flush();
      await eventually(() => assert.equal(fleet.view(false).malformed, 2));
      assert.deepEqual(fleet.view(false).gateways, []);
    } finally {
      await nc.close();
      await fleet.close();
    }
  });

  it('shows the bus error while NATS is unreachable, and connects once it is there', async () => {
    const down = new NatsStatsBus({ servers: ['nats://127.0.0.1:1'], gatewayId: 'g-d', log: silentLogger });
    await down.start(
      () => {},
      () => {},
    );
    await eventually(() => assert.ok(down.error() !== null && down.error() !== 'connecting to NATS'));
    await down.close();
  });
});

const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const;
const OPERATOR_TOKEN = 'fleet-view-operator-token';

describe('three regions: one gateway shows every gateway of every region', () => {
  let sc: NatsSupercluster;
  let config: ChatConfig;
  const gateways = new Map<string, Gateway>();
  const dirs: string[] = [];

  before(async () => {
    sc = await startNatsSupercluster([...REGIONS]);
    config = parseConfig({
      regions: REGIONS.map((name, i) => ({
        name,
        id: i + 1,
        gateway: { host: '127.0.0.1', port: 0 },
        nats: { servers: [sc.urls[name]!] },
      })),
      auth: { secret: TEST_SECRET, operatorToken: OPERATOR_TOKEN },
    });
    const started = await startRegionGateways(config, REGIONS, async (region) => {
      const dir = await mkdtemp(join(tmpdir(), `fleet-${region}-`));
      dirs.push(dir);
      return dir;
    });
    for (const [region, gw] of started) gateways.set(region, gw);
  });
  after(async () => {
    for (const gw of gateways.values()) await gw.stop();
    await sc?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const fleetOf = async (region: string): Promise<FleetView> => {
    const res = await fetch(`${gateways.get(region)!.httpUrl}/dashboard/fleet`, {
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as FleetView;
  };

  it('lists each region’s gateway as live, with its lag to the two other regions', async () => {
    const view = await eventually(
      async () => {
        const v = await fleetOf('us-east');
        assert.deepEqual(
          v.gateways.map((g) => [g.region, g.state]),
          [
            ['ap-south', 'live'],
            ['eu-west', 'live'],
            ['us-east', 'live'],
          ],
        );
        for (const g of v.gateways) {
          const peers = g.latest.replication?.peers ?? [];
          assert.deepEqual(
            peers.map((p) => p.region).sort(),
            REGIONS.filter((r) => r !== g.region).sort(),
            `${g.region} reports its peers`,
          );
          for (const p of peers) {
            assert.ok(p.reachable, `${g.region} reaches ${p.region}`);
            assert.equal(typeof p.outbound, 'number', `${g.region} → ${p.region} outbound lag`);
            assert.equal(typeof p.inbound, 'number', `${g.region} ← ${p.region} inbound lag`);
          }
        }
        return v;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.equal(view.bus, 'nats');
    assert.equal(view.busError, null);
    assert.deepEqual(view.regions, [...REGIONS]);
    assert.deepEqual(view.self, { region: 'us-east', gatewayId: gateways.get('us-east')!.gatewayId });
    for (const g of view.gateways) {
      assert.equal(g.gatewayId, gateways.get(g.region)!.gatewayId);
      assert.ok((g.history?.length ?? 0) >= 1, 'with history');
    }
  });

  it('the dashboard page of one gateway shows all three regions (Chromium)', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(String(err)));
      await page.goto(`${gateways.get('eu-west')!.httpUrl}/dashboard#token=${OPERATOR_TOKEN}`);
      for (const region of REGIONS) {
        const block = page.locator(`#fleet [data-fleet-region="${region}"]`);
        await block.locator('tr[data-state="live"]').waitFor({ timeout: 20_000 });
        await block.locator('.lag-peer').first().waitFor({ timeout: 20_000 });
      }
      await page
        .locator('#fleet-chart polyline, #fleet-chart circle')
        .first()
        .waitFor({ state: 'attached', timeout: 20_000 });
      assert.match((await page.locator('#fleet h2').textContent()) ?? '', /3 of 3 region/);
      // Another metric redraws the chart.
      await page.locator('#fleet .tab[data-metric="connections"]').click();
      await page.locator('#fleet .tab.on[data-metric="connections"]').waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  it('a stopping gateway is shown stopped by the others at once', async () => {
    const gw = gateways.get('ap-south')!;
    await gw.stop();
    gateways.delete('ap-south');
    await eventually(
      async () => {
        const v = await fleetOf('us-east');
        assert.equal(v.gateways.find((g) => g.region === 'ap-south')?.state, 'stopped');
      },
      { timeoutMs: 5000, intervalMs: 100 },
    );
  });
});
