/**
 * One region as it is deployed: THREE gateway processes (`node dist/main.js`, compiled; one
 * regions.yaml, distinct ports and worker ids) on real Redis, NATS and Cassandra. alice is on
 * gateway 1 (raw WebSocket), bob on gateway 2 (Socket.IO), carol on gateway 3 (raw); dave is a
 * member who never connects, erin has a device on gateways 1 and 3. Then gateway 2 is SIGKILLed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'cassandra-driver';
import { stringify } from 'yaml';
import { createStorage } from '../../src/storage/index.ts';
import type { Storage } from '../../src/storage/types.ts';
import { getSharedCassandra } from '../helpers/cassandra.ts';
import { type Frame, TestClient } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { TEST_SECRET, token } from '../helpers/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.ts';
import { IoTestClient } from '../helpers/io-client.ts';
import { type NatsHandle, startNats } from '../helpers/nats.ts';
import { freePorts } from '../helpers/ports.ts';
import { type RedisHandle, startRedis } from '../helpers/redis.ts';

const REGION = 'test';
const TTL_MS = 3000;
const HEARTBEAT_MS = 500;
/** Timer and pub/sub jitter allowed on top of the TTL when measuring. */
const SLACK_MS = 500;

type AnyClient = TestClient | IoTestClient;

const byId = (x: string, y: string) => (BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0);
const isMessage = (id: unknown) => (f: Frame) =>
  f.op === 'message' && (f.message as { id: string }).id === id;

describe('a region of three gateway processes (Redis + NATS + Cassandra)', () => {
  let dir: string;
  let redis: RedisHandle;
  let nats: NatsHandle;
  let cassandra: Awaited<ReturnType<typeof getSharedCassandra>>;
  let storage: Storage;
  let keyspace: string;
  let gws: GatewayProcess[] = [];
  const clients: AnyClient[] = [];
  const tag = randomBytes(3).toString('hex');
  const [alice, bob, carol, dave, erin] = ['alice', 'bob', 'carol', 'dave', 'erin'].map(
    (n) => `${n}${tag}`,
  ) as [string, string, string, string, string];
  let a: TestClient;
  let b: IoTestClient;
  let c: TestClient;
  let e1: TestClient;
  let e3: TestClient;
  let group = '';
  /** Every message id acked in the group, in the order the acks came. */
  const groupIds: string[] = [];
  const sentBy = new Map<string, string>();

  const raw = async (gw: GatewayProcess, userId: string, opts: { since?: string; device?: string } = {}) => {
    const client = await TestClient.connect(gw.url, await token(userId), opts);
    clients.push(client);
    await client.waitFor((f) => f.op === 'synced');
    return client;
  };
  const sio = async (gw: GatewayProcess, userId: string, opts: { since?: string } = {}) => {
    const client = await IoTestClient.connect(gw.httpUrl, await token(userId), opts);
    clients.push(client);
    await client.waitFor((f) => f.op === 'synced');
    return client;
  };
  const send = async (from: AnyClient, body: string, conversationId = group) => {
    const r = await from.request('send', { conversationId, body, clientMsgId: body });
    assert.equal(r.op, 'sent', JSON.stringify(r));
    return String(r.messageId);
  };

  before(async () => {
    cassandra = await getSharedCassandra();
    [redis, nats] = await Promise.all([startRedis(), startNats()]);
    keyspace = `chat_region_${tag}`;
    const cassandraConfig = {
      contactPoints: cassandra.contactPoints,
      port: cassandra.port,
      localDataCenter: cassandra.localDataCenter,
      keyspace,
    };
    // The schema is created once here, so the three gateways do not race to create it.
    storage = createStorage({ kind: 'cassandra', ...cassandraConfig });
    await storage.init();
    dir = await mkdtemp(join(tmpdir(), 'chat-region-'));
    const configFile = join(dir, 'regions.yaml');
    await writeFile(
      configFile,
      stringify({
        regions: [
          {
            name: REGION,
            id: 3,
            gateway: { host: '127.0.0.1', port: 0 },
            cassandra: cassandraConfig,
            redis: { url: redis.url },
            nats: { servers: [nats.url] },
          },
        ],
        auth: { secret: TEST_SECRET },
        presence: { ttlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS },
      }),
    );
    const ports = await freePorts(3);
    gws = await Promise.all(
      ports.map((port, i) => startGatewayProcess({ configFile, region: REGION, port, workerId: i + 1, dir })),
    );
  });

  after(async () => {
    await Promise.allSettled(clients.map((x) => x.close()));
    await Promise.allSettled(gws.map((g) => g.kill('SIGTERM')));
    await storage?.close();
    if (cassandra) {
      const admin = new Client({
        contactPoints: cassandra.contactPoints,
        protocolOptions: { port: cassandra.port },
        localDataCenter: cassandra.localDataCenter,
      });
      await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      await admin.shutdown();
      await cassandra.close();
    }
    await nats?.close();
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('delivers every message to every device exactly once, in id order per device', async (t) => {
    const [g1, g2, g3] = gws as [GatewayProcess, GatewayProcess, GatewayProcess];
    a = await raw(g1, alice);
    b = await sio(g2, bob);
    c = await raw(g3, carol);
    e1 = await raw(g1, erin, { device: 'phone' });
    e3 = await raw(g3, erin, { device: 'laptop' });
    group = (
      await a.call('createGroup', {
        title: 'region',
        members: [bob, carol, dave, erin],
      })
    ).conversation.id;
    for (const x of [b, c, e1, e3]) await x.waitFor((f) => f.op === 'conversation');
    const senders: [string, AnyClient][] = [
      [alice, a],
      [bob, b],
      [carol, c],
    ];

    // Causally ordered: each send after the previous one's ack, rotating over the gateways.
    const causal: string[] = [];
    for (let i = 0; i < 15; i++) {
      const [name, from] = senders[i % 3]!;
      const id = await send(from, `c${i}-${tag}`);
      causal.push(id);
      sentBy.set(id, name);
    }
    // Concurrent: 20 in flight from each gateway at once.
    const burst = (
      await Promise.all(
        senders.map(([name, from]) =>
          Promise.all(
            Array.from({ length: 20 }, async (_, i) => {
              const id = await send(from, `b${name}${i}`);
              sentBy.set(id, name);
              return id;
            }),
          ),
        ),
      )
    ).flat();
    groupIds.push(...causal, ...burst);
    const all = [...groupIds].sort(byId);
    assert.deepEqual(causal, [...causal].sort(byId), 'ids increase along causally ordered sends');

    const devices: [string, AnyClient, string][] = [
      [alice, a, 'alice@1'],
      [bob, b, 'bob@2'],
      [carol, c, 'carol@3'],
      [erin, e1, 'erin@1'],
      [erin, e3, 'erin@3'],
    ];
    await eventually(
      () => {
        for (const [name, x] of devices) {
          assert.equal(x.messages(group).length, all.filter((id) => sentBy.get(id) !== name).length, name);
        }
      },
      { timeoutMs: 15_000 },
    );
    // Delivery is exactly once; the order a device shows is by id (docs/protocol.md), the same
    // for all. Arrival order across gateways can differ slightly: messages from senders on
    // different gateways take different paths (local socket vs NATS). What is fixed is each
    // gateway's own order: a sender's messages arrive in id order everywhere.
    let causalInOrder = 0;
    let allInOrder = 0;
    for (const [name, x, label] of devices) {
      const got = x.messages(group).map((m) => m.id);
      const expected = all.filter((id) => sentBy.get(id) !== name);
      assert.equal(new Set(got).size, got.length, `${label}: no duplicates`);
      assert.deepEqual([...got].sort(byId), expected, `${label}: exactly the others' messages`);
      for (const [sender] of senders) {
        const fromSender = got.filter((id) => sentBy.get(id) === sender);
        assert.deepEqual(
          fromSender,
          [...fromSender].sort(byId),
          `${label}: ${sender}'s messages in id order`,
        );
      }
      const causalGot = got.filter((id) => causal.includes(id));
      if (causalGot.every((id, i) => id === [...causalGot].sort(byId)[i])) causalInOrder++;
      if (got.every((id, i) => id === expected[i])) allInOrder++;
    }
    t.diagnostic(`devices receiving the causally ordered sends in id order: ${causalInOrder}/5`);
    t.diagnostic(`devices receiving everything (incl. the concurrent burst) in id order: ${allInOrder}/5`);
  });

  it('queues exactly one offline entry per message for a member connected nowhere', async () => {
    // dave never connected: senders on all three gateways raced to queue for him.
    await eventually(async () => assert.equal(await storage.countOffline(dave), groupIds.length), {
      timeoutMs: 10_000,
    });
    // Two gateways deliver to erin at once while she is connected nowhere.
    await e1.close();
    await e3.close();
    await eventually(
      async () => {
        const p = await a.call('presence', { userIds: [erin] });
        assert.equal(p.users[0]?.status, 'offline');
      },
      { timeoutMs: 10_000 },
    );
    const dmA = `dm:${[alice, erin].sort().join(':')}`;
    const dmC = `dm:${[carol, erin].sort().join(':')}`;
    const dms = await Promise.all([send(a, `to-erin-a-${tag}`, dmA), send(c, `to-erin-c-${tag}`, dmC)]);
    await eventually(async () => assert.equal(await storage.countOffline(erin), 2), { timeoutMs: 10_000 });
    assert.equal(await storage.countOffline(dave), groupIds.length, 'no extra entries appeared later');
    const [g1, g2] = gws as [GatewayProcess, GatewayProcess];
    const d = await raw(g2, dave);
    const synced = await d.waitFor((f) => f.op === 'synced');
    assert.equal(synced.count, groupIds.length);
    assert.deepEqual(
      d.messages().map((m) => m.id),
      [...groupIds].sort(byId),
    );
    const e = await raw(g1, erin);
    assert.equal((await e.waitFor((f) => f.op === 'synced')).count, 2);
    assert.deepEqual(
      e.messages().map((m) => m.id),
      dms.sort(byId),
    );
    await d.close();
    await e.close();
  });

  it('shows presence and typing to the other members, across gateways and transports', async () => {
    const snapshot = await a.call('subscribePresence', {
      userIds: [bob, carol],
    });
    assert.deepEqual(
      snapshot.users.map((u) => u.status),
      ['online', 'online'],
    );
    await c.call('subscribePresence', { userIds: [alice, bob] });
    await b.call('subscribePresence', { userIds: [alice, carol] });

    await c.call('typing', { conversationId: group });
    for (const x of [a, b]) {
      const typing = await x.waitFor((f) => f.op === 'typing' && f.userId === carol);
      assert.equal(typing.conversationId, group);
      assert.ok((typing.expiresAt as number) > Date.now());
    }
    await b.call('typing', { conversationId: group });
    for (const x of [a, c]) await x.waitFor((f) => f.op === 'typing' && f.userId === bob);

    const bobIs = (status: string) => (f: Frame) =>
      f.op === 'presence' && f.userId === bob && f.status === status;
    await b.call('setAway', { away: true });
    for (const x of [a, c]) await x.waitFor(bobIs('away'));
    const backOnline = [a, c].map((x) => x.nextFrame(bobIs('online')));
    await b.call('setAway', { away: false });
    await Promise.all(backOnline);
    // Events are per status change: carol's second device coming and going changes nothing.
    const c2 = await raw(gws[2]!, carol, { device: 'tablet' });
    await c2.close();
    await eventually(async () => {
      const p = await b.call('presence', { userIds: [carol] });
      assert.equal(p.users[0]?.devices, 1);
    });
    assert.equal(b.frames.filter((f) => f.op === 'presence' && f.userId === carol).length, 0, 'still online');
  });

  it('shows bob offline within the TTL after SIGKILL of his gateway; he resumes on gateway 3 with exactly what he missed', async (t) => {
    const g2 = gws[1]!;
    const g3 = gws[2]!;
    const seen = [
      ...b.messages().map((m) => m.id),
      ...[...sentBy].filter(([, s]) => s === bob).map(([id]) => id),
    ].sort(byId);
    const lastSeen = seen[seen.length - 1]!;
    const offlineEvent = a.nextFrame(
      (f) => f.op === 'presence' && f.userId === bob && f.status === 'offline',
      15_000,
    );
    const killedAt = Date.now();
    await g2.kill('SIGKILL');
    t.diagnostic(`gateway 2 exited ${Date.now() - killedAt} ms after SIGKILL`);
    assert.equal(await b.waitClose(), 1006);

    // Messages while bob is gone: some before presence says offline (not queued, found by
    // `since`), some after (queued too); the replay must merge them without duplicates.
    const missed: string[] = [];
    missed.push(await send(a, `gone-a1-${tag}`), await send(c, `gone-c1-${tag}`));
    const queryDelay = await eventually(
      async () => {
        const p = await c.call('presence', {
          userIds: [bob],
        });
        assert.equal(p.users[0]?.status, 'offline');
        assert.equal(p.users[0]?.devices, 0);
        return Date.now() - killedAt;
      },
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    const event = await offlineEvent;
    const eventDelay = Date.now() - killedAt;
    await c.waitFor((f) => f.op === 'presence' && f.userId === bob && f.status === 'offline');
    t.diagnostic(`bob offline: presence request after ${queryDelay} ms, event after ≤ ${eventDelay} ms`);
    assert.equal(event.devices, 0);
    assert.ok(queryDelay <= TTL_MS + SLACK_MS, `presence request said offline after ${queryDelay} ms`);
    assert.ok(eventDelay <= TTL_MS + SLACK_MS, `offline event after ${eventDelay} ms`);
    missed.push(await send(a, `gone-a2-${tag}`), await send(c, `gone-c2-${tag}`));
    await eventually(async () => assert.ok((await storage.countOffline(bob)) >= 2), { timeoutMs: 10_000 });

    const onlineAgain = a.nextFrame((f) => f.op === 'presence' && f.userId === bob && f.status === 'online');
    const b2 = await sio(g3, bob, { since: lastSeen });
    const synced = await b2.waitFor((f) => f.op === 'synced');
    assert.equal(synced.count, missed.length);
    assert.deepEqual(
      b2.messages().map((m) => m.id),
      missed.sort(byId),
    );
    assert.ok(b2.messages().every((m) => m.replay));
    await onlineAgain;
    // Live again, on the new gateway.
    const live = await send(a, `back-${tag}`);
    const got = await b2.waitFor(isMessage(live));
    assert.equal(got.replay, false);
    // Acking the replayed queue entries empties bob's queue.
    await b2.socket.timeout(5000).emitWithAck('ack', { messageIds: missed });
    await eventually(async () => assert.equal(await storage.countOffline(bob), 0), { timeoutMs: 5000 });
  });
});
