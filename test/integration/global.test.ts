/**
 * Three regions on a real NATS supercluster, a Redis per region and Cassandra (a keyspace per
 * region): cross-region DMs and groups, a region outage with client failover and catch-up, and
 * duplicate suppression — counting what each side acked against what each side received and
 * stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from 'cassandra-driver';
import WebSocket from 'ws';
import { startGateway } from '../../src/app.ts';
import { ChatClient } from '../../src/client/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ChatConfig } from '../../src/config/schema.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { CassandraStorage } from '../../src/storage/cassandra/storage.ts';
import { silentLogger } from '../../src/util/log.ts';
import { getSharedCassandra } from '../helpers/cassandra.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { TEST_SECRET, token } from '../helpers/gateway.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../helpers/nats.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';
import { watchStep } from '../helpers/watch-step.ts';

const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const;
type Region = (typeof REGIONS)[number];
const tag = randomBytes(3).toString('hex');
const alice = `alice${tag}`;
const bob = `bob${tag}`;
const carol = `carol${tag}`;

describe('global: three regions', () => {
  let sc: NatsSupercluster;
  const redis = new Map<Region, RedisHandle>();
  const gateways = new Map<Region, Gateway>();
  let config: ChatConfig;
  let cassandra: Awaited<ReturnType<typeof getSharedCassandra>>;
  const keyspaces = Object.fromEntries(
    REGIONS.map((r) => [r, `chat_g_${r.replace('-', '_')}_${tag}`]),
  ) as Record<Region, string>;
  const clients: TestClient[] = [];

  const startRegionGateway = async (region: Region) => {
    const gw = await startGateway({
      config,
      region: config.regions.find((r) => r.name === region)!,
      workerId: 0,
      port: 0,
      log: silentLogger,
    });
    gateways.set(region, gw);
    return gw;
  };
  const open = async (region: Region, user: string, since?: string) => {
    const c = await TestClient.connect(gateways.get(region)!.url, await token(user), since ? { since } : {});
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced');
    return c;
  };

  before(async () => {
    cassandra = await watchStep('Cassandra', () => getSharedCassandra());
    sc = await watchStep('NATS supercluster', () => startNatsSupercluster([...REGIONS]));
    for (const r of REGIONS) redis.set(r, await watchStep(`Redis for ${r}`, () => startRedis()));
    config = parseConfig({
      regions: REGIONS.map((name, i) => ({
        name,
        id: i + 1,
        gateway: { host: '127.0.0.1', port: 0 },
        cassandra: {
          contactPoints: cassandra.contactPoints,
          port: cassandra.port,
          localDataCenter: cassandra.localDataCenter,
          keyspace: keyspaces[name],
        },
        redis: { url: redis.get(name)!.url },
        nats: { servers: [sc.urls[name]!] },
      })),
      directory: { pins: { [alice]: 'us-east', [bob]: 'eu-west', [carol]: 'ap-south' } },
      auth: { secret: TEST_SECRET },
      presence: { ttlMs: 3000, heartbeatMs: 500 },
      replication: { presenceRefreshMs: 500 },
      // The outage test sends 200 messages back to back on one socket: faster than the default
      // 50/s once the store is warm, and rate limiting is not what it checks.
      limits: { rateLimitPerSec: 1000, rateLimitBurst: 1000 },
    });
    for (const r of REGIONS) await watchStep(`gateway of ${r}`, () => startRegionGateway(r));
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const gw of gateways.values()) await gw.stop();
    await sc.close();
    for (const r of redis.values()) await r.close();
    const client = new Client({
      contactPoints: cassandra.contactPoints,
      protocolOptions: { port: cassandra.port },
      localDataCenter: cassandra.localDataCenter,
    });
    for (const ks of Object.values(keyspaces)) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
    await client.shutdown();
    await cassandra.close();
  });

  const dm = (a: string, b: string) => (a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`);
  const hasMessage = (id: unknown) => (f: { op: string; message?: unknown }) =>
    f.op === 'message' && (f.message as { id: string }).id === id;
  let group = '';

  it('delivers DMs and group messages across regions, and shows presence from other regions', async () => {
    const a = await open('us-east', alice);
    const b = await open('eu-west', bob);
    const c = await open('ap-south', carol);
    const created = await a.call('createGroup', {
      title: 'world',
      members: [bob, carol],
    });
    group = created.conversation.id;
    await b.waitFor(
      (f) => f.op === 'conversation' && (f.conversation as { id: string }).id === group,
      20_000,
    );
    await c.waitFor(
      (f) => f.op === 'conversation' && (f.conversation as { id: string }).id === group,
      20_000,
    );
    const g1 = await a.request('send', { conversationId: group, body: 'hello world', clientMsgId: 'g1' });
    assert.equal(g1.op, 'sent');
    await b.waitFor(hasMessage(g1.messageId), 20_000);
    await c.waitFor(hasMessage(g1.messageId), 20_000);
    const d1 = await a.request('send', { conversationId: dm(alice, bob), body: 'hi bob', clientMsgId: 'd1' });
    await b.waitFor(hasMessage(d1.messageId), 20_000);
    const back = await b.request('send', { conversationId: dm(alice, bob), body: 'hi alice' });
    await a.waitFor(hasMessage(back.messageId), 20_000);
    const fromCarol = await c.request('send', { conversationId: group, body: 'from ap-south' });
    await a.waitFor(hasMessage(fromCarol.messageId), 20_000);
    await b.waitFor(hasMessage(fromCarol.messageId), 20_000);
    // Presence of users in other regions, looked up locally.
    await eventually(
      async () => {
        const p = await c.call('presence', {
          userIds: [alice, bob],
        });
        assert.deepEqual(
          p.users.map((u) => u.status),
          ['online', 'online'],
        );
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    for (const gw of gateways.values()) {
      const ready = (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as {
        checks: Record<string, string>;
      };
      assert.equal(ready.checks.replication, 'ok');
    }
    // History of a conversation started elsewhere is served by every region.
    const hist = await c.call('history', { conversationId: group });
    assert.deepEqual(
      hist.messages.map((m) => m.id),
      [fromCarol.messageId, g1.messageId],
    );
  });

  it('loses nothing while a region is down: the client fails over, the region catches up', async (t) => {
    const a = clients.find((x) => x.frames[0]?.userId === alice)!;
    const b = clients.find((x) => x.frames[0]?.userId === bob)!;
    const lastSeen = b.messages().at(-1)!.id;
    // bob's app: the SDK with his home region first and ap-south as the fallback.
    const app = new ChatClient({
      urls: [gateways.get('eu-west')!.url, gateways.get('ap-south')!.url],
      token: () => token(bob),
      WebSocket,
      backoff: { initialMs: 50, maxMs: 500, factor: 2, jitter: 1 },
    });
    const appGot: { id: string; conversationId: string }[] = [];
    app.on('message', (m) => appGot.push(m));
    await app.connect();
    t.after(() => app.close());
    const warm = await a.request('send', { conversationId: dm(alice, bob), body: 'warm-up' });
    await eventually(() => assert.ok(appGot.some((m) => m.id === warm.messageId)), { timeoutMs: 20_000 });
    // eu-west goes dark: its gateway and its NATS server.
    await gateways.get('eu-west')!.stop();
    gateways.delete('eu-west');
    await sc.stopRegion('eu-west');
    await b.waitClose();
    // bob's connections in eu-west disappear from presence everywhere once eu-west's
    // announcements expire; his app shows up in ap-south instead.
    await eventually(
      async () => {
        const p = await a.call('presence', {
          userIds: [bob],
        });
        assert.equal(p.users[0]?.status, 'online');
        assert.ok(p.users[0]!.gateways.length > 0);
        assert.ok(
          p.users[0]!.gateways.every((g) => g.startsWith('ap-south/')),
          JSON.stringify(p.users[0]),
        );
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const ackedDm: string[] = [];
    const ackedGroup: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r1 = await a.request('send', {
        conversationId: dm(alice, bob),
        body: `dm${i}`,
        clientMsgId: `out-dm-${i}`,
      });
      assert.equal(r1.op, 'sent', JSON.stringify(r1));
      ackedDm.push(String(r1.messageId));
      const r2 = await a.request('send', { conversationId: group, body: `g${i}`, clientMsgId: `out-g-${i}` });
      assert.equal(r2.op, 'sent', JSON.stringify(r2));
      ackedGroup.push(String(r2.messageId));
    }
    // bob's app fails over to ap-south by itself and resumes from its eu-west position. The
    // cross-region lookback may also bring messages from before the app's first connect (it
    // started with none): only what came after the warm-up is compared.
    const afterWarm = (m: { id: string }) => BigInt(m.id) > BigInt(String(warm.messageId));
    await eventually(
      () => {
        const ids = appGot.map((m) => m.id);
        assert.equal(new Set(ids).size, ids.length, 'the app saw no duplicates');
        assert.deepEqual(
          appGot.filter((m) => m.conversationId === dm(alice, bob) && afterWarm(m)).map((m) => m.id),
          ackedDm,
        );
        assert.deepEqual(
          appGot.filter((m) => m.conversationId === group && afterWarm(m)).map((m) => m.id),
          ackedGroup,
        );
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await app.close();
    // A raw client resuming at ap-south from an older id gets the same, without duplicates.
    const b2 = await open('ap-south', bob, lastSeen);
    await eventually(
      () => {
        const got = b2.messages();
        const ids = got.map((m) => m.id);
        const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
        assert.equal(
          dupes.length,
          0,
          `duplicates: ${JSON.stringify(got.filter((m) => dupes.includes(m.id)))} lastSeen ${lastSeen}`,
        );
        assert.deepEqual(
          got.filter((m) => m.conversationId === dm(alice, bob) && m.id !== warm.messageId).map((m) => m.id),
          ackedDm,
        );
        assert.deepEqual(
          got.filter((m) => m.conversationId === group).map((m) => m.id),
          ackedGroup,
        );
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // eu-west returns; its store catches up with every acked message.
    await sc.startRegion('eu-west');
    await startRegionGateway('eu-west');
    const euStore = new CassandraStorage({
      contactPoints: cassandra.contactPoints,
      port: cassandra.port,
      localDataCenter: cassandra.localDataCenter,
      keyspace: keyspaces['eu-west'],
    });
    await euStore.init();
    try {
      await eventually(
        async () => {
          const dmHist = await euStore.getHistory(dm(alice, bob), {
            after: BigInt(warm.messageId as string),
            limit: 200,
          });
          assert.deepEqual(
            dmHist.map((m) => m.messageId.toString()),
            ackedDm,
          );
          const gHist = await euStore.getHistory(group, { after: BigInt(lastSeen), limit: 200 });
          assert.deepEqual(
            gHist.map((m) => m.messageId.toString()),
            ackedGroup,
          );
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    } finally {
      await euStore.close();
    }
    // bob back home sees the same, once, in order.
    const b3 = await open('eu-west', bob, lastSeen);
    const dmGot = b3
      .messages(dm(alice, bob))
      .map((m) => m.id)
      .filter((id) => id !== warm.messageId);
    assert.deepEqual(dmGot, ackedDm);
    assert.deepEqual(
      b3.messages(group).map((m) => m.id),
      ackedGroup,
    );
  });

  it('suppresses duplicates when the same message is replayed across regions', async () => {
    const a = clients.find((x) => x.frames[0]?.userId === alice && x.closeCode === null)!;
    const c = clients.find((x) => x.frames[0]?.userId === carol && x.closeCode === null)!;
    const first = await a.request('send', { conversationId: group, body: 'once only', clientMsgId: 'dup-1' });
    await c.waitFor(hasMessage(first.messageId), 20_000);
    // The resend is a duplicate at the origin and is republished; receivers store and show it once.
    const again = await a.request('send', { conversationId: group, body: 'once only', clientMsgId: 'dup-1' });
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, first.messageId);
    const marker = await a.request('send', { conversationId: group, body: 'marker' });
    await c.waitFor(hasMessage(marker.messageId), 20_000);
    assert.equal(c.messages(group).filter((m) => m.id === first.messageId).length, 1);
    const hist = await c.call('history', { conversationId: group, limit: 5 });
    assert.equal(hist.messages.filter((m) => m.id === first.messageId).length, 1);
  });

  it('keeps replicating from a region that answered a resend as a duplicate of another region', async () => {
    // The slow-consumer fault run: a device's send is stored (and replicated) by its region, the
    // ack never reaches it, and the SDK resends from another region, which already holds the
    // replica and answers `duplicate`, publishing the event again. Everything sent through that
    // region afterwards must still reach the third region.
    const a = clients.find((x) => x.frames[0]?.userId === alice && x.closeCode === null)!;
    const c = clients.find((x) => x.frames[0]?.userId === carol && x.closeCode === null)!;
    const aliceInEu = await watchStep('alice connects in eu-west', () => open('eu-west', alice));
    const first = await a.request('send', { conversationId: group, body: 'moved', clientMsgId: 'moved-1' });
    await c.waitFor(hasMessage(first.messageId), 20_000);
    await eventually(
      async () => {
        const hist = await aliceInEu.call('history', { conversationId: group, limit: 5 });
        assert.ok(hist.messages.some((m) => m.id === first.messageId));
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const again = await aliceInEu.request('send', {
      conversationId: group,
      body: 'moved',
      clientMsgId: 'moved-1',
    });
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, first.messageId);
    const next = await aliceInEu.request('send', { conversationId: group, body: 'after the move' });
    await c.waitFor(hasMessage(next.messageId), 20_000);
    assert.equal(c.messages(group).filter((m) => m.id === first.messageId).length, 1);
  });
});
