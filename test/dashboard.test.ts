/** The dashboard's figures (quantiles, rates, alerts) and its authenticated WebSocket. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { parseConfig } from '../src/config/load.ts';
import { tokenMatches } from '../src/dashboard/endpoint.ts';
import { bucketDelta, histogramQuantile } from '../src/dashboard/quantile.ts';
import { DashboardSampler } from '../src/dashboard/sampler.ts';
import type { DashboardFrame, FleetView } from '../src/dashboard/types.ts';
import { liveMessage, routedEvent } from '../src/gateway/frames.ts';
import { GatewayMetrics } from '../src/gateway/metrics.ts';
import type { CrossRegionBacklog } from '../src/replication/backlog.ts';
import { decodeRouted, encodeRouted } from '../src/routing/envelope.ts';
import type { Routed } from '../src/routing/types.ts';
import { WebhookMetrics } from '../src/webhooks/metrics.ts';
import type { WebhookQueue } from '../src/webhooks/queue.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, TEST_SECRET, type TestGateway, testConfig, token } from './helpers/gateway.ts';

const dashboardConfig = (extra: Record<string, unknown> = {}) =>
  parseConfig({
    regions: [{ name: 'r', id: 0, gateway: { port: 0 } }],
    auth: { secret: TEST_SECRET },
    dashboard: extra,
  }).dashboard;

describe('histogram quantiles', () => {
  const bounds = [0.001, 0.01, 0.1, Number.POSITIVE_INFINITY];

  it('interpolates inside the bucket the rank falls in', () => {
    // 100 observations: 50 ≤ 1 ms, 40 in (1, 10] ms, 10 in (10, 100] ms.
    const r = { bounds, cumulative: [50, 90, 100, 100] };
    assert.equal(histogramQuantile(0.5, r), 0.001);
    assert.ok(Math.abs(histogramQuantile(0.7, r)! - 0.0055) < 1e-12);
    assert.ok(Math.abs(histogramQuantile(0.99, r)! - 0.091) < 1e-12);
  });

  it('answers null with no observations and the largest finite bound past it', () => {
    assert.equal(histogramQuantile(0.5, { bounds, cumulative: [0, 0, 0, 0] }), null);
    assert.equal(histogramQuantile(0.99, { bounds, cumulative: [0, 0, 0, 5] }), 0.1);
  });

  it('windows by subtracting an older reading, and survives a reset', () => {
    const older = { bounds, cumulative: [10, 10, 10, 10] };
    const newer = { bounds, cumulative: [10, 20, 20, 20] };
    assert.deepEqual(bucketDelta(newer, older).cumulative, [0, 10, 10, 10]);
    assert.ok(Math.abs(histogramQuantile(0.5, bucketDelta(newer, older))! - 0.0055) < 1e-12);
    // A reset (the newer reading is below the older one) counts from zero.
    assert.deepEqual(bucketDelta(older, newer).cumulative, [10, 10, 10, 10]);
  });
});

describe('the createdAt of a routed message frame', () => {
  // What the latency metric reads: the metadata beside the frame, as it arrives over NATS.
  const messageCreatedAt = (routed: Routed): number | null => {
    const arrived = decodeRouted(encodeRouted(routed, ['u'])).routed;
    return arrived.kind === 'message' ? arrived.createdAt : null;
  };
  it('reads the field, not a look-alike in the body', () => {
    const message = liveMessage(
      {
        id: '1',
        conversationId: 'c',
        senderId: 'a',
        clientMsgId: null,
        body: '"createdAt":5',
        createdAt: 1795000000123,
      },
      'v1.test.1795000000200',
    );
    assert.equal(messageCreatedAt(message), 1795000000123);
    assert.equal(
      messageCreatedAt(routedEvent({ op: 'typing', conversationId: 'c', userId: 'a', expiresAt: 1 })),
      null,
    );
  });
});

describe('DashboardSampler', () => {
  const setup = (extra: Record<string, unknown> = {}, backlog?: () => Promise<CrossRegionBacklog>) => {
    let now = 1_000_000;
    const metrics = new GatewayMetrics();
    const sampler = new DashboardSampler({
      metrics,
      config: dashboardConfig(extra),
      ...(backlog ? { backlog } : {}),
      now: () => now,
    });
    return { metrics, sampler, advance: (ms: number) => (now += ms) };
  };

  it('turns counters into per-second rates and histograms into percentiles', async () => {
    const { metrics, sampler, advance } = setup();
    await sampler.sample();
    metrics.connections.set(3);
    metrics.messagesStored.inc(10);
    metrics.messagesDelivered.inc({ path: 'live' }, 15);
    metrics.messagesDelivered.inc({ path: 'replay' }, 5);
    for (let i = 0; i < 100; i++) metrics.storeLatency.observe(0.0008);
    metrics.offlineEnqueued.inc(4);
    metrics.offlineAcked.inc(1);
    advance(2000);
    const s = await sampler.sample();
    assert.equal(s.connections, 3);
    assert.equal(s.messagesInPerSec, 5);
    assert.equal(s.messagesOutPerSec, 10);
    assert.ok(s.storeMs.p50 !== null && s.storeMs.p50 > 0.5 && s.storeMs.p50 <= 1, `p50 ${s.storeMs.p50}`);
    assert.equal(s.deliveryMs.p99, null, 'nothing delivered live with a latency');
    assert.equal(s.offlineQueue, 3);
    assert.equal(s.regions, null, 'single region');
    assert.deepEqual(s.alerts, []);
    assert.equal(sampler.history().length, 2);
  });

  it('reports webhook delivery rate, lag, queue depth and dead letters, alerting on dead letters', async () => {
    let now = 1_000_000;
    const metrics = new GatewayMetrics();
    let dead = 0;
    const queue = { depth: async () => 7, deadCount: async () => dead } as unknown as WebhookQueue;
    const webhooks = new WebhookMetrics(metrics.registry, queue);
    const sampler = new DashboardSampler({ metrics, webhooks, config: dashboardConfig(), now: () => now });
    const first = await sampler.sample();
    assert.equal(first.webhooks?.queueDepth, 7);
    webhooks.deliveries.inc({ endpoint: 'app', outcome: 'delivered' }, 8);
    webhooks.deliveries.inc({ endpoint: 'app', outcome: 'retried' }, 3);
    webhooks.deliveries.inc({ endpoint: 'app', outcome: 'dead' }, 1);
    for (let i = 0; i < 8; i++) webhooks.lag.observe({ endpoint: 'app' }, 0.2);
    dead = 1;
    now += 2000;
    const s = await sampler.sample();
    assert.equal(s.webhooks?.deliveredPerSec, 4);
    assert.equal(s.webhooks?.failedPerSec, 2);
    assert.ok(
      s.webhooks?.lagMs.p50 !== null && s.webhooks!.lagMs.p50! > 100 && s.webhooks!.lagMs.p50! <= 250,
    );
    assert.equal(s.webhooks?.deadLetters, 1);
    assert.deepEqual(
      s.alerts.map((a) => a.kind),
      ['webhooks'],
    );
    assert.equal(
      new DashboardSampler({ metrics: new GatewayMetrics(), config: dashboardConfig() }).history().length,
      0,
    );
  });

  it('alerts when the error rate passes the threshold, only with enough requests', async () => {
    const { metrics, sampler, advance } = setup({
      errorRateAlert: 0.05,
      errorRateMinRequests: 20,
      windowSec: 10,
    });
    await sampler.sample();
    metrics.framesIn.inc(10);
    metrics.errors.inc({ code: 'forbidden' }, 5);
    advance(1000);
    let s = await sampler.sample();
    assert.equal(s.errorRate, 0.5);
    assert.deepEqual(s.alerts, [], '10 requests are too few to alert on');
    metrics.framesIn.inc(90);
    advance(1000);
    s = await sampler.sample();
    assert.equal(s.errorRate, 0.05);
    assert.deepEqual(s.alerts, [], 'at the threshold, not past it');
    metrics.framesIn.inc(10);
    metrics.errors.inc({ code: 'internal' }, 2);
    advance(1000);
    s = await sampler.sample();
    assert.equal(s.alerts[0]?.kind, 'error_rate');
    assert.ok((s.errorsPerSec.internal ?? 0) > 0);
    // Past the window the errors age out.
    metrics.framesIn.inc(500);
    advance(11_000);
    await sampler.sample();
    advance(1000);
    s = await sampler.sample();
    assert.equal(s.errorRate, 0);
    assert.deepEqual(s.alerts, []);
  });

  it('shows the cross-region backlog and alerts on an unreachable or silent region', async () => {
    let answer: CrossRegionBacklog | Error = {
      region: 'us',
      inboxPending: 2,
      peers: [
        { region: 'eu', reachable: true, inbound: 0, inboundIdleMs: 100, outbound: 3, error: null },
        {
          region: 'ap',
          reachable: false,
          inbound: null,
          inboundIdleMs: null,
          outbound: null,
          error: 'timeout',
        },
      ],
    };
    const { sampler, advance } = setup({ regionUnreachableMs: 15_000 }, async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    });
    await sampler.sample();
    await sampler.settled();
    advance(1000);
    let s = await sampler.sample();
    assert.equal(s.regions?.backlog?.inboxPending, 2);
    assert.deepEqual(
      s.alerts.map((a) => [a.kind, a.region]),
      [['region_unreachable', 'ap']],
    );
    answer = {
      region: 'us',
      inboxPending: 0,
      peers: [{ region: 'eu', reachable: true, inbound: 7, inboundIdleMs: 20_000, outbound: 0, error: null }],
    };
    advance(3000);
    await sampler.sample();
    await sampler.settled();
    s = await sampler.sample();
    assert.deepEqual(
      s.alerts.map((a) => [a.kind, a.region]),
      [['region_unreachable', 'eu']],
    );
    answer = new Error('no responders');
    advance(3000);
    await sampler.sample();
    await sampler.settled();
    s = await sampler.sample();
    assert.equal(s.alerts[0]?.kind, 'replication');
    assert.equal(s.regions?.error, 'no responders');
  });
});

describe('dashboard WebSocket', () => {
  const gateways: TestGateway[] = [];
  after(async () => {
    for (const g of gateways) await g.stop();
  });

  const upgradeStatus = (url: string) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => {});
    });

  it('compares tokens in constant time and refuses an empty one', () => {
    assert.equal(tokenMatches('a'.repeat(20), 'a'.repeat(20)), true);
    assert.equal(tokenMatches('a'.repeat(20), 'b'.repeat(20)), false);
    assert.equal(tokenMatches('', 'b'.repeat(20)), false);
    assert.equal(tokenMatches('x'.repeat(20), undefined), false);
  });

  it('is off without an operator token, refuses a wrong one, streams samples with the right one', async () => {
    const off = await startTestGateway();
    gateways.push(off);
    const wsBase = (g: TestGateway) => g.httpUrl.replace('http:', 'ws:');
    assert.equal(await upgradeStatus(`${wsBase(off)}/dashboard/ws?token=whatever-whatever`), 404);

    const operatorToken = 'dashboard-test-operator-token';
    const gw = await startTestGateway({
      config: testConfig(
        {},
        {
          auth: { secret: TEST_SECRET, devTokens: true, operatorToken },
          dashboard: { intervalMs: 100 },
        },
      ),
    });
    gateways.push(gw);
    assert.equal(await upgradeStatus(`${wsBase(gw)}/dashboard/ws?token=wrong-wrong-wrong`), 401);
    assert.equal(await upgradeStatus(`${wsBase(gw)}/dashboard/ws`), 401);
    const check = (t: string) =>
      fetch(`${gw.httpUrl}/dashboard/check`, { headers: { authorization: `Bearer ${t}` } }).then(
        (r) => r.status,
      );
    assert.equal(await check(operatorToken), 204);
    assert.equal(await check('nope-nope-nope-nope'), 401);

    const frames: DashboardFrame[] = [];
    const ws = new WebSocket(`${wsBase(gw)}/dashboard/ws?token=${operatorToken}`);
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as DashboardFrame));
    await new Promise((r) => ws.once('open', r));
    const client = await TestClient.connect(gw.url, await token('alice'));
    await client.request('send', { conversationId: 'dm:alice:bob', body: 'hi', clientMsgId: 'c1' });
    await eventually(() => {
      assert.equal(frames[0]?.type, 'hello');
      const last = frames[frames.length - 1];
      assert.ok(last?.type === 'sample');
      assert.equal(last.sample.connections, 1);
      assert.equal(last.sample.totals.messagesStored, 1);
      assert.equal(last.sample.totals.connectionsOpened, 1);
      // The deployment view of an embedded gateway: itself, heard through the in-process bus.
      assert.equal(last.fleet.bus, 'memory');
      assert.deepEqual(
        last.fleet.gateways.map((g) => [g.region, g.gatewayId, g.state, g.latest.connections]),
        [[gw.gateway.deps.region.name, gw.gateway.gatewayId, 'live', 1]],
      );
    });
    const hello = frames[0];
    assert.ok(hello?.type === 'hello');
    assert.deepEqual(hello.fleet.regions, [gw.gateway.deps.region.name]);
    // Over HTTP, with each gateway's history.
    const fleet = (t: string) =>
      fetch(`${gw.httpUrl}/dashboard/fleet`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await fleet('nope-nope-nope-nope')).status, 401);
    assert.equal((await fetch(`${off.httpUrl}/dashboard/fleet`)).status, 404);
    const view = (await (await fleet(operatorToken)).json()) as FleetView;
    assert.equal(view.gateways.length, 1);
    assert.ok((view.gateways[0]?.history?.length ?? 0) > 1, 'history kept with no dashboard open before');
    await client.close();
    // Stopping the gateway closes the dashboard with 1001.
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await gw.stop();
    gateways.pop();
    assert.equal(await closed, 1001);
  });
});
