/**
 * A gateway whose store stops answering: it stops being ready after `limits.unhealthyAfterMs`
 * and, when other regions exist, sends its clients there with close 4503 (new ones too), then
 * recovers by itself. With one region it keeps its clients. Embedded services; the store's ping
 * fails on demand (`overriding`).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ChatConfig } from '../src/config/schema.ts';
import { Gateway } from '../src/gateway/gateway.ts';
import { BackendHealth } from '../src/gateway/health.ts';
import { GatewayMetrics } from '../src/gateway/metrics.ts';
import { createPresence } from '../src/presence/index.ts';
import { CloseCode } from '../src/protocol/index.ts';
import { createRouter } from '../src/routing/index.ts';
import { createStorage } from '../src/storage/index.ts';
import { overriding } from '../src/util/overriding.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { testConfig, token } from './helpers/gateway.ts';
import { collectingLogger, type LogRecord } from './helpers/log.ts';

const LIMITS = { unhealthyAfterMs: 300, healthCheckIntervalMs: 50 };

interface Harness {
  gateway: Gateway;
  /** While true the store's ping fails, as if Cassandra were unreachable. */
  storeDown: boolean;
  records: LogRecord[];
  stop(): Promise<void>;
}

async function startGateway(regions: 1 | 2): Promise<Harness> {
  const base = testConfig({}, { limits: LIMITS });
  const home = base.regions[0]!;
  // A second region only needs to be listed: the gateway checks whether it has somewhere to
  // send its clients, not how to reach it (the schema would ask for NATS to replicate).
  const config: ChatConfig =
    regions === 1 ? base : { ...base, regions: [home, { ...home, name: 'other', id: 2 }] };
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-health-'));
  const store = createStorage({ kind: 'embedded', dataDir });
  const { log, records } = collectingLogger();
  const h: Harness = {
    storeDown: false,
    records,
    gateway: null as unknown as Gateway,
    stop: async () => {
      await h.gateway.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  h.gateway = new Gateway({
    config,
    region: home,
    storage: overriding(store, {
      ping: async () => {
        if (h.storeDown) throw new Error('store unreachable (test)');
        await store.ping();
      },
    }),
    presence: createPresence({ kind: 'memory', ttlMs: 3000 }),
    router: createRouter({ kind: 'memory', gatewayId: 'gw-health' }),
    workerId: 0,
    port: 0,
    log,
  });
  await h.gateway.start();
  return h;
}

async function readyz(
  gw: Gateway,
): Promise<{ status: number; body: { status: string; checks: Record<string, string> } }> {
  const res = await fetch(`${gw.httpUrl}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { status: string; checks: Record<string, string> },
  };
}

/** Opens a raw socket and resolves with its close code (or 0 if a welcome came first). */
function closeCodeOfNewConnection(url: string, tok: string): Promise<number> {
  const u = new URL(url);
  u.searchParams.set('token', tok);
  const ws = new WebSocket(u);
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      if ((JSON.parse(String(data)) as { op: string }).op === 'welcome') {
        ws.close();
        resolve(0);
      }
    });
    ws.on('close', (code) => resolve(code));
    ws.on('error', reject);
  });
}

describe('gateway readiness: a store that stops answering', () => {
  const started: Harness[] = [];
  after(async () => {
    for (const h of started) await h.stop();
  });

  it('with other regions: not ready after unhealthyAfterMs, clients sent away with 4503, then recovers', async () => {
    const h = await startGateway(2);
    started.push(h);
    const gw = h.gateway;
    assert.equal((await readyz(gw)).status, 200);
    const client = await TestClient.connect(gw.url, await token('alice'));
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));

    h.storeDown = true;
    const downAt = Date.now();
    assert.equal(await closed, CloseCode.RegionUnavailable);
    assert.ok(Date.now() - downAt >= LIMITS.unhealthyAfterMs, 'not before unhealthyAfterMs');
    const notReady = await readyz(gw);
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.status, 'not_ready');
    assert.match(notReady.body.checks.storage!, /^down: store unreachable \(test\)/);
    assert.equal(notReady.body.checks.routing, 'ok');
    // New connections are sent away too, right after the upgrade.
    assert.equal(await closeCodeOfNewConnection(gw.url, await token('bob')), CloseCode.RegionUnavailable);
    const metrics = await gw.metrics.registry.metrics();
    assert.match(metrics, /^chat_ready 0$/m);
    assert.match(metrics, /^chat_backend_up\{check="storage"\} 0$/m);
    assert.match(metrics, /^chat_region_unavailable_closes_total [1-9]/m);
    const logged = h.records.find((r) => r.msg.startsWith('sending clients to another region'));
    assert.deepEqual(logged?.down, ['storage']);

    h.storeDown = false;
    await eventually(async () => assert.equal((await readyz(gw)).status, 200));
    assert.equal(await closeCodeOfNewConnection(gw.url, await token('bob')), 0);
    assert.match(await gw.metrics.registry.metrics(), /^chat_ready 1$/m);
  });

  it('as the only region: not ready, but keeps its clients and accepts new ones', async () => {
    const h = await startGateway(1);
    started.push(h);
    const gw = h.gateway;
    const client = await TestClient.connect(gw.url, await token('carol'));
    h.storeDown = true;
    await eventually(async () => assert.equal((await readyz(gw)).status, 503));
    assert.equal((await client.request('ping')).op, 'pong');
    assert.equal(client.closeCode, null);
    assert.equal(await closeCodeOfNewConnection(gw.url, await token('dave')), 0);
    h.storeDown = false;
    await eventually(async () => assert.equal((await readyz(gw)).status, 200));
    await client.close();
  });
});

describe('BackendHealth', () => {
  function harness() {
    let now = 1_000;
    const changes: [boolean, string[]][] = [];
    const pings: Record<string, () => Promise<void>> = { store: async () => {}, nats: async () => {} };
    const health = new BackendHealth({
      checks: {
        store: { ping: () => pings.store!() },
        nats: { ping: () => pings.nats!() },
      },
      intervalMs: 1000,
      unhealthyAfterMs: 5000,
      probeTimeoutMs: 20,
      metrics: new GatewayMetrics(),
      log: collectingLogger().log,
      onChange: (ready, down) => changes.push([ready, down]),
      now: () => now,
    });
    return { health, changes, pings, advance: (ms: number) => (now += ms) };
  }

  it('is degraded, not unready, until a service has failed for unhealthyAfterMs; then ready again', async () => {
    const { health, changes, pings, advance } = harness();
    await health.probe();
    assert.deepEqual(health.report(), { status: 'ready', checks: { store: 'ok', nats: 'ok' } });
    pings.store = async () => {
      throw new Error('refused');
    };
    await health.probe();
    assert.equal(health.report().status, 'degraded');
    assert.equal(health.ready, true);
    advance(4999);
    await health.probe();
    assert.equal(health.ready, true);
    advance(1);
    await health.probe();
    assert.equal(health.ready, false);
    assert.equal(health.report().status, 'not_ready');
    assert.match(health.report().checks.store!, /^down: refused \(for 5\.0 s\)$/);
    pings.store = async () => {};
    await health.probe();
    assert.equal(health.ready, true);
    assert.deepEqual(changes, [
      [false, ['store']],
      [true, []],
    ]);
  });

  it('bounds a hung ping and does not stack another on it', async () => {
    const { health, pings, advance } = harness();
    let calls = 0;
    pings.nats = () => {
      calls++;
      return new Promise<void>(() => {});
    };
    // The probe's deadline timer is unref'd (it never keeps a gateway alive); this test's must.
    const keepAlive = setInterval(() => {}, 1000);
    await health.probe().finally(() => clearInterval(keepAlive));
    assert.match(health.report().checks.nats!, /^down: no answer within 20 ms/);
    advance(6000);
    await health.probe();
    assert.equal(calls, 1, 'the hung ping was not sent again');
    assert.equal(health.ready, false);
  });
});
