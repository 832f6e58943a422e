/**
 * Retention and erasure events applied from other regions: a conversation's period (`rt`, after
 * its conversation; the later setting wins), an erasure request (`er`, run by the gateway's
 * handler, retried until there is one), and another region's erasure record (`ed`, a finished
 * record never replaced by a running one).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Applier, type ReplicationSink } from '../src/replication/apply.ts';
import { caughtUp, type PeerBacklog } from '../src/replication/index.ts';
import { ErasureService } from '../src/retention/erasure.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import type { ErasureRecord, ErasureRequest } from '../src/storage/retention.ts';
import { silentLogger } from '../src/util/log.ts';
import { overriding } from '../src/util/overriding.ts';

const sink: ReplicationSink = {
  async deliverMessage() {},
  async deliverConversation() {},
  async deliverReceipt() {},
  async deliverChange() {},
};

describe('applying retention and erasure events', () => {
  let dir: string;
  let store: EmbeddedStorage;
  let applier: Applier;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chat-ret-apply-'));
    store = new EmbeddedStorage({ dataDir: dir });
    await store.init();
    applier = new Applier(store);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sets a period once its conversation is here; the later setting wins in any order', async () => {
    const rt = (seconds: number | null, at: number) =>
      applier.apply({ k: 'rt', conversationId: 'g:1', seconds, at }, `rt:${at}`, sink);
    await assert.rejects(rt(60, 1000));
    await store.createConversation({ id: 'g:1', kind: 'group', title: 't', createdBy: 'a', createdAt: 1 }, [
      'a',
    ]);
    await rt(60, 1000);
    await rt(120, 3000);
    await rt(30, 2000);
    assert.equal(await store.retention.getConversationRetention('g:1'), 120);
  });

  it('runs an erasure request through the handler, and retries while there is none', async () => {
    const req: ErasureRequest = { requestId: 'r1', userId: 'eve', requestedAt: 1, origin: 'us-east' };
    await assert.rejects(applier.apply({ k: 'er', req }, 'er:r1', sink), /no erasure handler/);
    const ran: string[] = [];
    applier.eraseHandler = async (r) => {
      ran.push(r.requestId);
    };
    await applier.apply({ k: 'er', req }, 'er:r1', sink);
    assert.deepEqual(ran, ['r1']);
  });

  it('records and replicates a failed erasure, then the done one that replaces it', async () => {
    let fail = true;
    const retention = overriding(store.retention, {
      eraseUser: async (userId, opts) => {
        if (fail) throw new Error('store unreachable');
        return store.retention.eraseUser(userId, opts);
      },
    });
    const published: ErasureRecord[] = [];
    const service = new ErasureService({
      storage: overriding(store, { retention }),
      region: 'eu-west',
      log: silentLogger,
      publish: { request: async () => {}, record: async (r) => void published.push(r) },
    });
    const req: ErasureRequest = { requestId: 'r3', userId: 'zed', requestedAt: 1, origin: 'us-east' };
    await assert.rejects(service.run(req), /store unreachable/);
    const [failed] = await store.retention.getErasures('r3');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.error, 'store unreachable');
    assert.deepEqual(
      published.map((r) => r.status),
      ['failed'],
    );
    fail = false;
    const done = await service.run(req);
    assert.equal(done.status, 'done');
    assert.deepEqual(await store.retention.getErasures('r3'), [done]);
    assert.deepEqual(
      published.map((r) => r.status),
      ['failed', 'done'],
    );
  });

  it('erases again once replication caught up, when it was behind as the run started; not otherwise', async () => {
    await store.createConversation(
      { id: 'g:late', kind: 'group', title: 't', createdBy: 'ivy', createdAt: 1 },
      ['ivy', 'joe'],
    );
    let next = 1000n;
    const send = async (senderId: string, body: string) => {
      const messageId = next++;
      await store.appendMessage({
        conversationId: 'g:late',
        messageId,
        senderId,
        clientMsgId: null,
        body,
        createdAt: Date.now(),
      });
      return messageId.toString();
    };
    const bodies = async () =>
      (await store.getHistory('g:late', { after: 0n, limit: 50 })).map((m) => m.body);
    let caughtUp = false;
    const asked: number[] = [];
    const published: ErasureRecord[] = [];
    const service = new ErasureService({
      storage: store,
      region: 'eu-west',
      log: silentLogger,
      publish: { request: async () => {}, record: async (r) => void published.push(r) },
      caughtUp: async (inFlight) => {
        asked.push(inFlight);
        return caughtUp;
      },
      followUp: { pollMs: 20, maxMs: 10_000 },
    });
    const first = await send('ivy', 'first');
    await send('joe', 'kept');
    // Replicated from us-east (one inbox event in flight) while the inbox is behind.
    const req: ErasureRequest = {
      requestId: 'r-late',
      userId: 'ivy',
      requestedAt: Date.now(),
      origin: 'us-east',
    };
    const done = await service.run(req);
    assert.deepEqual(done.report?.messageIds, [first]);
    // One of ivy's messages from before the request is applied after the first pass.
    const late = await send('ivy', 'late');
    assert.deepEqual(await bodies(), ['kept', 'late']);
    caughtUp = true;
    await service.followedUp('r-late');
    assert.deepEqual(await bodies(), ['kept']);
    const [record] = await store.retention.getErasures('r-late');
    assert.deepEqual(record?.report?.messageIds, [first, late]);
    assert.equal(record?.progress.removed, 2);
    assert.deepEqual(published.at(-1), record, 'the merged record is replicated');
    assert.equal(asked[0], 1, 'the request being applied is not counted as a backlog');

    // Caught up as it starts: one pass, nothing looked for afterwards.
    const again: ErasureRequest = {
      requestId: 'r-now',
      userId: 'joe',
      requestedAt: Date.now(),
      origin: 'eu-west',
    };
    const calls = asked.length;
    await service.run(again);
    await service.followedUp('r-now');
    assert.deepEqual(asked.slice(calls), [0]);
    assert.deepEqual(await bodies(), []);
  });

  it('counts replication caught up only with the inbox drained and every peer reachable and empty', () => {
    const peer: PeerBacklog = {
      region: 'us-east',
      reachable: true,
      inbound: 0,
      inboundIdleMs: 5,
      outbound: 0,
      error: null,
    };
    const backlog = (inboxPending: number | null, peers = [peer]) => ({
      region: 'eu-west',
      inboxPending,
      peers,
    });
    assert.equal(caughtUp(backlog(0), 0), true);
    assert.equal(caughtUp(backlog(1), 0), false);
    assert.equal(caughtUp(backlog(1), 1), true, 'the event being applied');
    assert.equal(caughtUp(backlog(null), 1), false, 'not read');
    assert.equal(caughtUp(backlog(0, [{ ...peer, inbound: 3 }]), 0), false);
    assert.equal(caughtUp(backlog(0, [{ ...peer, inbound: null }]), 0), false);
    assert.equal(caughtUp(backlog(0, [{ ...peer, reachable: false }]), 0), false);
  });

  it("keeps another region's finished record over a running one that arrives later", async () => {
    const record = (status: ErasureRecord['status'], finishedAt: number | null): ErasureRecord => ({
      requestId: 'r2',
      userId: 'eve',
      region: 'eu-west',
      requestedAt: 1,
      finishedAt,
      status,
      progress: { scanned: 10, removed: 2 },
      report:
        status === 'done' ? { tables: { messages: 2 }, messageIds: ['5', '6'], attachmentIds: [] } : null,
      error: null,
    });
    await applier.apply({ k: 'ed', record: record('done', 50) }, 'ed:1', sink);
    await applier.apply({ k: 'ed', record: record('running', null) }, 'ed:2', sink);
    assert.deepEqual(await store.retention.getErasures('r2'), [record('done', 50)]);
  });
});
