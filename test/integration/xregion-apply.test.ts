/**
 * Applying a backlog of replicated events in batches, on a real two-region NATS supercluster with
 * an embedded store per region: a burst across several conversations is applied concurrently
 * across conversations, delivered in each conversation's order, and a store failure in the middle
 * of it ends with every message stored and delivered once, the failed one's conversation
 * waiting for it rather than overtaking it; and a message that arrives before its conversation's
 * creation from the same origin (as a redelivered creation does) is applied once it comes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { Directory } from '../../src/config/directory.ts';
import { encodeEvent } from '../../src/replication/events.ts';
import { CrossRegionLink, Replication, type ReplicationSink } from '../../src/replication/index.ts';
import { toRecord } from '../../src/storage/common.ts';
import { EmbeddedStorage } from '../../src/storage/embedded.ts';
import type { Storage, StoredMessage } from '../../src/storage/types.ts';
import { overriding } from '../../src/util/overriding.ts';
import { SnowflakeGenerator } from '../../src/util/snowflake.ts';
import { eventually } from '../helpers/eventually.ts';
import { type NatsSupercluster, startNatsSupercluster } from '../helpers/nats.ts';

const REGIONS = ['us-east', 'eu-west'];
const CONVERSATIONS = 6;
const PER_CONVERSATION = 25;
const TOTAL = CONVERSATIONS * PER_CONVERSATION;

describe('cross-region apply in batches', () => {
  let sc: NatsSupercluster;
  let dir: string;
  const stores: EmbeddedStorage[] = [];
  const replications: Replication[] = [];
  const links: CrossRegionLink[] = [];
  /** Per conversation, what eu-west delivered (its replication runs from the first test on). */
  const delivered = new Map<string, bigint[]>();

  const region = async (name: string, wrap: (s: Storage) => Storage = (s) => s) => {
    const local = new EmbeddedStorage({ dataDir: join(dir, name) });
    await local.init();
    stores.push(local);
    const link = new CrossRegionLink({
      servers: [sc.urls[name]!],
      region: name,
      peers: REGIONS.filter((r) => r !== name),
      outboxMaxAgeMs: 3600_000,
      duplicateWindowMs: 120_000,
    });
    await link.start();
    const replication = new Replication(name, link, new Directory(REGIONS), wrap(local));
    replications.push(replication);
    return { local, replication };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xapply-'));
    sc = await startNatsSupercluster(REGIONS);
  });
  after(async () => {
    for (const r of replications) await r.close();
    for (const l of links) await l.close();
    for (const s of stores) await s.close();
    await sc.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a burst in per-conversation order, and a store failure mid-batch once', async () => {
    const us = await region('us-east');
    // eu-west's store fails the first putReplica of one message in the middle of the burst, and
    // counts how many putReplica calls overlap.
    const failing = { conversation: 'g:x2', index: 9, id: 0n, failures: 0 };
    let inFlight = 0;
    let maxInFlight = 0;
    const eu = await region('eu-west', (inner) =>
      overriding(inner, {
        async putReplica(message) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            await turn();
            if (message.messageId === failing.id && failing.failures++ === 0) {
              throw new Error('injected store failure');
            }
            await inner.putReplica(message);
          } finally {
            inFlight--;
          }
        },
      }),
    );

    // The whole burst is in eu-west's inbox before eu-west starts applying: one backlog.
    const ids = new SnowflakeGenerator(1, 0);
    const sent = new Map<string, bigint[]>();
    const conversations = Array.from({ length: CONVERSATIONS }, (_, c) => `g:x${c}`);
    for (const id of conversations) {
      await us.replication.storage.createConversation(
        { id, kind: 'group', title: id, createdBy: 'alice', createdAt: Date.now() },
        ['alice', 'bob'],
      );
      sent.set(id, []);
    }
    await Promise.all(
      conversations.map(async (conversationId) => {
        for (let i = 0; i < PER_CONVERSATION; i++) {
          const message: StoredMessage = {
            conversationId,
            messageId: ids.next(),
            senderId: 'alice',
            clientMsgId: `${conversationId}-${i}`,
            body: `m${i}`,
            createdAt: Date.now(),
          };
          if (conversationId === failing.conversation && i === failing.index) failing.id = message.messageId;
          await us.replication.storage.appendMessage(message);
          sent.get(conversationId)!.push(message.messageId);
        }
      }),
    );
    await eventually(
      async () => assert.equal((await eu.replication.backlog()).inboxPending, CONVERSATIONS + TOTAL),
      { timeoutMs: 15_000 },
    );

    const sink: ReplicationSink = {
      async deliverMessage(message) {
        const list = delivered.get(message.conversationId) ?? [];
        list.push(message.messageId);
        delivered.set(message.conversationId, list);
      },
      async deliverConversation() {},
      async deliverReceipt() {},
      async deliverChange() {},
    };
    await eu.replication.start(sink);

    await eventually(
      () =>
        assert.equal(
          [...delivered.values()].reduce((n, l) => n + l.length, 0),
          TOTAL,
        ),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    assert.equal(failing.failures, 2, 'the failed message was stored on its second attempt');
    for (const id of conversations) {
      assert.deepEqual(delivered.get(id), sent.get(id), `${id}: every message once, in order`);
      const stored = await eu.local.getHistory(id, { limit: PER_CONVERSATION + 1 });
      assert.deepEqual(
        stored.map((m) => m.messageId).reverse(),
        sent.get(id),
        `${id}: every message stored in eu-west`,
      );
    }
    assert.ok(maxInFlight > 1, `conversations were applied concurrently (at most ${maxInFlight} at once)`);
    await eventually(async () => assert.equal((await eu.replication.backlog()).inboxPending, 0), {
      timeoutMs: 10_000,
    });
  });

  it("applies a message that came before its conversation's creation once the creation comes", async () => {
    // eu-west consumes since the first test. A creation whose first delivery died with a gateway
    // is redelivered after the conversation's later messages from the same origin; here the
    // message is published first, so it reaches eu-west first and fails until the creation is in.
    const publisher = new CrossRegionLink({
      servers: [sc.urls['us-east']!],
      region: 'us-east',
      peers: ['eu-west'],
      outboxMaxAgeMs: 3600_000,
      duplicateWindowMs: 120_000,
    });
    links.push(publisher);
    await publisher.start();
    const conv = {
      id: 'g:late',
      kind: 'group' as const,
      title: 'late',
      createdBy: 'carol',
      createdAt: Date.now(),
    };
    const message: StoredMessage = {
      conversationId: conv.id,
      messageId: new SnowflakeGenerator(2, 0).next(),
      senderId: 'carol',
      clientMsgId: 'late-0',
      body: 'before its conversation',
      createdAt: Date.now(),
    };
    await publisher.publish(
      encodeEvent({ k: 'm', msg: toRecord(message) }),
      `m:${message.messageId}`,
      conv.id,
    );
    await publisher.publish(
      encodeEvent({ k: 'c', conv, event: 'created', changed: ['carol', 'dave'] }),
      `c:${conv.id}:created`,
      conv.id,
    );
    await eventually(() => assert.deepEqual(delivered.get(conv.id), [message.messageId]), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const eu = stores[1]!;
    assert.deepEqual(await eu.listMembers(conv.id), ['carol', 'dave']);
    assert.deepEqual(
      (await eu.getHistory(conv.id, { limit: 2 })).map((m) => m.messageId),
      [message.messageId],
    );
    await eventually(async () => assert.equal((await replications[1]!.backlog()).inboxPending, 0), {
      timeoutMs: 10_000,
    });
  });
});
