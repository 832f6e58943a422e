/**
 * The applying side of replication: an event whose apply or delivery failed is delivered in
 * full when JetStream redelivers it, and only an event applied and delivered in full is
 * skipped as a repeat (issue 11 (a): marking it seen first lost its live fan-out for good).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Applier, type ReplicationSink } from '../src/replication/apply.ts';
import type { ReplicationEvent } from '../src/replication/events.ts';
import { eventIdOf, publishId } from '../src/replication/link.ts';
import { toRecord } from '../src/storage/common.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import type { StoredMessage } from '../src/storage/types.ts';

/** A sink that fails its first `failures` deliveries and records the rest. */
function flakySink(failures: number): ReplicationSink & { delivered: bigint[] } {
  let left = failures;
  const delivered: bigint[] = [];
  return {
    delivered,
    async deliverMessage(message: StoredMessage) {
      if (left-- > 0) throw new Error('presence lookup failed');
      delivered.push(message.messageId);
    },
    async deliverConversation() {},
    async deliverReceipt() {},
  };
}

describe('replication apply', () => {
  let dir: string;
  let storage: EmbeddedStorage;
  const conversationId = 'g:42';
  const event = (messageId: bigint): ReplicationEvent => ({
    k: 'm',
    msg: toRecord({
      conversationId,
      messageId,
      senderId: 'alice',
      clientMsgId: `c-${messageId}`,
      body: 'hi',
      createdAt: Date.now(),
    }),
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'apply-'));
    storage = new EmbeddedStorage({ dataDir: dir });
    await storage.init();
    await storage.createConversation(
      { id: conversationId, kind: 'group', title: 't', createdBy: 'alice', createdAt: Date.now() },
      ['alice', 'bob'],
    );
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers a redelivered event whose first delivery failed', async () => {
    const applier = new Applier(storage);
    const sink = flakySink(1);
    const e = event(1000n);
    await assert.rejects(applier.apply(e, 'm-1000', sink), /presence lookup failed/);
    assert.deepEqual(sink.delivered, []);
    await applier.apply(e, 'm-1000', sink);
    assert.deepEqual(sink.delivered, [1000n], 'the redelivery fans out what the first attempt did not');
    assert.equal((await storage.getMessage(conversationId, 1000n))?.body, 'hi');
  });

  it('skips the fan-out of a repeat that was delivered in full', async () => {
    const applier = new Applier(storage);
    const sink = flakySink(0);
    const e = event(2000n);
    await applier.apply(e, 'm-2000', sink);
    await applier.apply(e, 'm-2000', sink);
    assert.deepEqual(sink.delivered, [2000n]);
  });

  it('names copies of one event published by two regions alike, and publishes them under distinct ids', () => {
    // Distinct Nats-Msg-Ids keep a third region's inbox sourcing from both outboxes; one event id
    // lets its applier fan the second copy out no more.
    const fromUs = publishId('m:3000', 'us-east', 'ap-south');
    const fromEu = publishId('m:3000', 'eu-west', 'ap-south');
    assert.notEqual(fromUs, fromEu);
    assert.equal(eventIdOf(fromUs), 'm:3000');
    assert.equal(eventIdOf(fromEu), 'm:3000');
    // Streams written before the publisher's region was in the id.
    assert.equal(eventIdOf('m:3000@ap-south'), 'm:3000');
    assert.equal(eventIdOf('r:alice:dm:alice:bob:3000@ap-south'), 'r:alice:dm:alice:bob:3000');
  });
});
