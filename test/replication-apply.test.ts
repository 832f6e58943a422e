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
import { StreamEraser } from '../src/replication/erase.ts';
import { decodeEvent, type ReplicationEvent } from '../src/replication/events.ts';
import { eventIdOf, publishId } from '../src/replication/link.ts';
import { fromRecord, type MessageRecord, toRecord } from '../src/storage/common.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import type { StoredMessage } from '../src/storage/types.ts';

/** A sink that fails its first `failures` deliveries and records the rest. */
function flakySink(
  failures: number,
): ReplicationSink & { delivered: bigint[]; changes: Array<[bigint, StoredMessage]> } {
  let left = failures;
  const delivered: bigint[] = [];
  const changes: Array<[bigint, StoredMessage]> = [];
  return {
    delivered,
    changes,
    async deliverMessage(message: StoredMessage) {
      if (left-- > 0) throw new Error('presence lookup failed');
      delivered.push(message.messageId);
    },
    async deliverConversation() {},
    async deliverReceipt() {},
    async deliverChange(record, target) {
      changes.push([record.messageId, target]);
    },
  };
}

/** A replicated change: record `id` of `kind` on `target`, with the state it left at its origin. */
function changeEvent(
  target: StoredMessage,
  id: bigint,
  kind: 'edit' | 'delete',
  body: string,
  editCount = 1,
): ReplicationEvent {
  const record: StoredMessage = {
    conversationId: target.conversationId,
    messageId: id,
    senderId: target.senderId,
    clientMsgId: `chg-${id}`,
    body: '',
    createdAt: Date.now(),
    change: { kind, targetId: target.messageId },
  };
  const state = { revision: id, deleted: kind === 'delete', editedAt: kind === 'edit' ? 5 : null, editCount };
  return {
    k: 'x',
    change: toRecord(record),
    target: toRecord({ ...target, body: kind === 'delete' ? '' : body, state }),
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

  it('retries a change that arrives before its target, then applies it', async () => {
    const applier = new Applier(storage);
    const sink = flakySink(0);
    const target = fromRecord((event(5000n) as { msg: MessageRecord }).msg);
    const edit = changeEvent(target, 5001n, 'edit', 'fixed');
    await assert.rejects(applier.apply(edit, 'x:5001', sink), /not replicated yet/);
    assert.equal(await storage.getMessage(conversationId, 5000n), null, 'no row made for the missing target');
    await applier.apply(event(5000n), 'm:5000', sink);
    await applier.apply(edit, 'x:5001', sink);
    assert.equal((await storage.getMessage(conversationId, 5000n))?.body, 'fixed');
    assert.deepEqual(
      sink.changes.map(([id, m]) => [id, m.body]),
      [[5001n, 'fixed']],
    );
    // The record joins the stream for replays by position, without a body.
    const stream = await storage.getHistory(conversationId, {
      after: 4999n,
      limit: 10,
      includeChanges: true,
    });
    assert.deepEqual(
      stream.map((m) => [m.messageId, m.change?.kind ?? 'message', m.body]),
      [
        [5000n, 'message', 'fixed'],
        [5001n, 'edit', ''],
      ],
    );
  });

  it('converges whatever order edits and a delete arrive in: last revision wins, a delete wins', async () => {
    const orders: Array<Array<[bigint, 'edit' | 'delete', string]>> = [
      [
        [6010n, 'edit', 'one'],
        [6020n, 'edit', 'two'],
      ],
      [
        [6020n, 'edit', 'two'],
        [6010n, 'edit', 'one'],
      ],
    ];
    for (const [i, order] of orders.entries()) {
      const applier = new Applier(storage);
      const id = 6000n + BigInt(i) * 100n;
      await applier.apply(event(id), `m:${id}`, flakySink(0));
      const target = fromRecord((event(id) as { msg: MessageRecord }).msg);
      for (const [rev, kind, body] of order) {
        await applier.apply(changeEvent(target, rev + id, kind, body), `x:${rev + id}`, flakySink(0));
      }
      assert.equal((await storage.getMessage(conversationId, id))?.body, 'two', `order ${i}`);
      // A delete with the smallest revision, applied last, still wins; an edit after it changes nothing.
      await applier.apply(changeEvent(target, id + 1n, 'delete', ''), `x:${id + 1n}`, flakySink(0));
      await applier.apply(changeEvent(target, id + 99n, 'edit', 'zombie'), `x:${id + 99n}`, flakySink(0));
      const row = await storage.getMessage(conversationId, id);
      assert.equal(row?.body, '');
      assert.equal(row?.state?.deleted, true);
      // The original message replicated again (a republish) does not bring the body back.
      await applier.apply(event(id), `m:${id}`, flakySink(0));
      assert.equal((await storage.getMessage(conversationId, id))?.body, '');
    }
  });

  it('a delete whose target never came stores a tombstone; the target arriving later stays deleted and is erased', async () => {
    const erasedItems: string[] = [];
    const erasedSeqs: number[] = [];
    const eraser = new StreamEraser({
      async erase(items) {
        erasedItems.push(...items.map((i) => i.item));
        return items.length;
      },
      async eraseInboxEvent(seq) {
        erasedSeqs.push(seq);
      },
    });
    const applier = new Applier(storage, eraser);
    const sink = flakySink(0);
    const target = fromRecord((event(9000n) as { msg: MessageRecord }).msg);
    // The origin erased the message's own event before this region read it: only the delete comes.
    await applier.apply(changeEvent(target, 9001n, 'delete', ''), 'x:9001', sink, { seq: 11, item: null });
    const row = await storage.getMessage(conversationId, 9000n);
    assert.equal(row?.state?.deleted, true);
    assert.equal(row?.body, '');
    assert.equal(row?.senderId, 'alice', 'the tombstone keeps the message’s place and sender');
    assert.deepEqual(
      sink.changes.map(([id, m]) => [id, m.state?.deleted]),
      [[9001n, true]],
    );
    assert.deepEqual(erasedItems, ['m9000'], 'the delete erases the message’s events here');
    assert.deepEqual(erasedSeqs, [], 'the delete event itself carries no body and stays');
    // A third region's copy of the message, with its body, arrives after all: merged, still
    // deleted, and its own inbox event erased.
    await applier.apply(event(9000n), 'm:9000', sink, { seq: 12, item: 'm9000' });
    assert.equal((await storage.getMessage(conversationId, 9000n))?.body, '');
    assert.deepEqual(erasedSeqs, [12]);
    // An edit made elsewhere before it learned of the delete carries the old body: erased too.
    await applier.apply(changeEvent(target, 9002n, 'edit', 'late edit'), 'x:9002', sink, {
      seq: 13,
      item: 'm9000',
    });
    assert.equal((await storage.getMessage(conversationId, 9000n))?.body, '');
    assert.deepEqual(erasedSeqs, [12, 13]);
    // A message not deleted: nothing is erased.
    await applier.apply(event(9100n), 'm:9100', sink, { seq: 14, item: 'm9100' });
    assert.deepEqual(erasedSeqs, [12, 13]);
  });

  it('an erase the streams refuse becomes a note to the region itself, applied until it succeeds', async () => {
    const notes: Array<{ data: Uint8Array; key: string }> = [];
    let refuse = true;
    const erased: string[] = [];
    const eraser = new StreamEraser({
      async erase(items) {
        if (refuse) throw new Error('503: no JetStream meta leader');
        erased.push(...items.map((i) => i.item));
        return items.length;
      },
      async eraseInboxEvent() {},
      async publishToSelf(data, _eventId, key) {
        notes.push({ data, key });
      },
    });
    // Refused: answered at once (0 erased), the note published under its own key.
    assert.equal(await eraser.messages([{ messageId: 9500n, createdAt: 1_000_000 }]), 0);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]!.key, 'erase');
    const note = decodeEvent(notes[0]!.data);
    assert.equal(note.k, 'xe');
    // Applying the note while the streams still refuse fails (the link retries it in place)...
    const applier = new Applier(storage, eraser);
    await assert.rejects(applier.apply(note, 'xe:1', flakySink(0)), /503/);
    // ...and erases once they accept.
    refuse = false;
    await applier.apply(note, 'xe:1', flakySink(0));
    assert.deepEqual(erased, ['m9500']);
  });

  it('applies replicated reactions in any order to the same result', async () => {
    const applier = new Applier(storage);
    await applier.apply(event(8000n), 'm:8000', flakySink(0));
    const target = fromRecord((event(8000n) as { msg: MessageRecord }).msg);
    const reaction = (id: bigint, kind: 'react' | 'unreact', userId: string): ReplicationEvent => ({
      k: 'x',
      change: toRecord({
        conversationId,
        messageId: id,
        senderId: userId,
        clientMsgId: null,
        body: '',
        createdAt: 1,
        change: { kind, targetId: 8000n, emoji: '🎉' },
      }),
      target: toRecord(target),
    });
    // bob's removal (newer) before his add (older); carol's add.
    await applier.apply(reaction(8003n, 'unreact', 'bob'), 'x:8003', flakySink(0));
    await applier.apply(reaction(8001n, 'react', 'bob'), 'x:8001', flakySink(0));
    await applier.apply(reaction(8002n, 'react', 'carol'), 'x:8002', flakySink(0));
    const row = await storage.getMessage(conversationId, 8000n);
    assert.deepEqual(row?.reactions, { revision: 8003n, entries: [{ emoji: '🎉', users: ['carol'] }] });
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
