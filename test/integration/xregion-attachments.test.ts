/**
 * Attachments across two regions on a real NATS supercluster: one region on Cassandra, the other
 * on the embedded LMDB store. A file uploaded in one region and sent in a message is downloadable
 * (whole and by range) in the other by the time the message arrives there, and deleting the
 * message in the origin removes the file and the refs from both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'cassandra-driver';
import { parseConfig } from '../../src/config/load.ts';
import type { ChatConfig } from '../../src/config/schema.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { uploadTo } from '../attachments.scenarios.ts';
import { getSharedCassandra } from '../helpers/cassandra.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { TEST_SECRET, token } from '../helpers/gateway.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../helpers/nats.ts';
import { startRegionGateways } from '../helpers/region-gateways.ts';

const REGIONS = ['us-east', 'eu-west'] as const;
type Region = (typeof REGIONS)[number];
const tag = randomBytes(3).toString('hex');
const alice = `alice${tag}`;
const bob = `bob${tag}`;

describe('attachments across regions (Cassandra ↔ embedded)', () => {
  let sc: NatsSupercluster;
  let cassandra: Awaited<ReturnType<typeof getSharedCassandra>>;
  let config: ChatConfig;
  let dataDir: string;
  const keyspace = `chat_xa_${tag}`;
  const gateways = new Map<Region, Gateway>();
  const clients: TestClient[] = [];

  before(async () => {
    cassandra = await getSharedCassandra();
    sc = await startNatsSupercluster([...REGIONS]);
    dataDir = await mkdtemp(path.join(tmpdir(), 'chat-xa-'));
    config = parseConfig({
      regions: REGIONS.map((name, i) => ({
        name,
        id: i + 1,
        gateway: { host: '127.0.0.1', port: 0 },
        ...(name === 'us-east'
          ? {
              cassandra: {
                contactPoints: cassandra.contactPoints,
                port: cassandra.port,
                localDataCenter: cassandra.localDataCenter,
                keyspace,
              },
            }
          : {}),
        nats: { servers: [sc.urls[name]!] },
      })),
      directory: { pins: { [alice]: 'us-east', [bob]: 'eu-west' } },
      auth: { secret: TEST_SECRET },
      presence: { ttlMs: 3000, heartbeatMs: 500 },
      replication: { presenceRefreshMs: 500 },
    });
    for (const [region, gw] of await startRegionGateways(config, REGIONS, () => dataDir))
      gateways.set(region, gw);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const gw of gateways.values()) await gw.stop();
    await sc?.close();
    await rm(dataDir, { recursive: true, force: true });
    const client = new Client({
      contactPoints: cassandra.contactPoints,
      protocolOptions: { port: cassandra.port },
      localDataCenter: cassandra.localDataCenter,
    });
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await client.shutdown();
    await cassandra.close();
  });

  const open = async (region: Region, user: string) => {
    const c = await TestClient.connect(gateways.get(region)!.url, await token(user));
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced', 30_000);
    return c;
  };

  for (const [from, to] of [
    ['us-east', 'eu-west'],
    ['eu-west', 'us-east'],
  ] as const) {
    it(`an attachment uploaded in ${from} is downloadable in ${to} when its message arrives, and deleted from both`, async () => {
      const sender = from === 'us-east' ? alice : bob;
      const reader = from === 'us-east' ? bob : alice;
      const s = await open(from, sender);
      const r = await open(to, reader);
      const group = (await s.call('createGroup', { title: `files ${from}`, members: [reader] })).conversation
        .id;
      // Three chunks, the last one short.
      const bytes = randomBytes(600_000);
      const senderTok = await token(sender);
      const up = await uploadTo(
        gateways.get(from)!.httpUrl,
        senderTok,
        group,
        bytes,
        'application/pdf',
        'a.pdf',
      );
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const id = up.body.attachment!.id;
      const sent = await s.request('send', {
        conversationId: group,
        body: 'see attached',
        attachments: [id],
      });
      assert.equal(sent.op, 'sent', JSON.stringify(sent));
      const m = await r.waitFor(
        (f) => f.op === 'message' && (f.message as { id: string }).id === sent.messageId,
        30_000,
      );
      assert.equal((m.message as { attachments: { id: string }[] }).attachments[0]?.id, id);

      // Applied ahead of the message (same key, earlier in the stream): no waiting here.
      const readerTok = await token(reader);
      const get = (headers: Record<string, string> = {}) =>
        fetch(`${gateways.get(to)!.httpUrl}/attachments/${id}`, {
          headers: { authorization: `Bearer ${readerTok}`, ...headers },
        });
      const whole = await get();
      assert.equal(whole.status, 200);
      assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
      const part = await get({ range: 'bytes=262000-262999' });
      assert.equal(part.status, 206);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(262000, 263000));

      // The sender deletes the message: its files go from every region, its refs from every copy.
      await s.call('delete', { conversationId: group, messageId: sent.messageId });
      for (const region of REGIONS) {
        await eventually(
          async () => {
            const res = await fetch(`${gateways.get(region)!.httpUrl}/attachments/${id}`, {
              headers: { authorization: `Bearer ${readerTok}` },
            });
            await res.arrayBuffer();
            assert.equal(res.status, 404, region);
          },
          { timeoutMs: 15_000 },
        );
        assert.equal(await gateways.get(region)!.deps.storage.attachments.readChunk(id, 0), null);
        const copy = await gateways
          .get(region)!
          .deps.storage.getMessage(group, BigInt(String(sent.messageId)));
        assert.equal(copy?.attachments, undefined, region);
      }
    });
  }
});
