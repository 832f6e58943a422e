/**
 * Resume positions (docs/protocol.md, "Resume positions") on an embedded gateway: live frames
 * carry `pos` and `synced` a `position`; a message made visible long after its id was minted (a
 * replica applied late, a resend of a stored first attempt) reaches a device whose position is
 * newer than its id; a token from another region reads back by the cross-region lookback; a
 * truncated replay continues from its position; a malformed token is `invalid_field`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parsePosition } from '../src/protocol/index.ts';
import type { StoredMessage } from '../src/storage/types.ts';
import { SnowflakeGenerator, snowflakeTime } from '../src/util/snowflake.ts';
import { type Frame, TestClient } from './helpers/client.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';
import { IoTestClient, ioUrl } from './helpers/io-client.ts';

let seq = 0;
function user(name: string): string {
  return `${name}${process.pid}r${++seq}`;
}

function dm(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

const isMessage = (id: string) => (f: Frame) => f.op === 'message' && (f.message as { id: string }).id === id;

describe('resume positions (embedded gateway)', () => {
  let gw: TestGateway;
  const clients: TestClient[] = [];

  const open = async (userId: string, opts: { resume?: string; since?: string; device?: string } = {}) => {
    const c = await TestClient.connect(gw.url, await token(userId), opts);
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced', 30_000);
    return c;
  };
  const synced = (c: TestClient) => c.waitFor((f) => f.op === 'synced');

  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.stop();
  });

  /** A DM between two fresh users with bob online on a second device (so nothing is queued). */
  async function pair() {
    const alice = user('alice');
    const bob = user('bob');
    const a = await open(alice);
    const bobStays = await open(bob, { device: 'stays' });
    const conv = dm(alice, bob);
    await a.call('openDirect', { userId: bob });
    return { alice, bob, a, bobStays, conv };
  }

  it('puts pos on live frames and position on synced, none on replayed frames', async () => {
    const { bob, a, conv } = await pair();
    const b = await open(bob);
    const s = await synced(b);
    const start = parsePosition(String(s.position));
    assert.ok(start, `synced.position ${String(s.position)}`);
    assert.equal(start.region, 'test');
    assert.equal(start.afterId, null);
    const sent = await a.call('send', { conversationId: conv, body: 'hi' });
    const live = await b.waitFor(isMessage(sent.messageId));
    const pos = parsePosition(String(live.pos));
    assert.ok(pos, `pos ${String(live.pos)}`);
    assert.ok(pos.t >= snowflakeTime(BigInt(sent.messageId)), 'visible no earlier than minted');
    await b.close();
    const b2 = await open(bob, { since: '1' });
    const replayed = await b2.waitFor(isMessage(sent.messageId));
    assert.equal(replayed.replay, true);
    assert.equal('pos' in replayed, false);
  });

  it('replays a replica applied late to a device whose position is newer than its id', async () => {
    const { alice, bob, a, conv } = await pair();
    const b = await open(bob);
    const sent = await a.call('send', { conversationId: conv, body: 'recent' });
    const live = await b.waitFor(isMessage(sent.messageId));
    const position = String(live.pos);
    await b.close();
    // Another region's message minted a minute ago, applied here only now (after an outage).
    const oldIds = new SnowflakeGenerator(7, 0, () => Date.now() - 60_000);
    const replica: StoredMessage = {
      conversationId: conv,
      messageId: oldIds.next(),
      senderId: alice,
      clientMsgId: null,
      body: 'late from another region',
      createdAt: Date.now() - 60_000,
    };
    assert.ok(replica.messageId < BigInt(sent.messageId));
    await gw.gateway.deps.storage.putReplica(replica);
    await gw.gateway.chat.deliverReplicated(replica, [alice, bob]);
    // The legacy watermark skips it: its id is below the newest id the device saw.
    const legacy = await open(bob, { since: sent.messageId });
    assert.equal((await synced(legacy)).count, 0);
    await legacy.close();
    // The position finds it (the late index), and only it and the lookback's overlap.
    const b2 = await open(bob, { resume: position });
    const got = await b2.waitFor(isMessage(replica.messageId.toString()));
    assert.equal(got.replay, true);
    assert.equal(b2.messages(conv).filter((m) => m.id === replica.messageId.toString()).length, 1);
  });

  it('reads back by the cross-region lookback for a token from another region', async () => {
    const { bob, a, conv } = await pair();
    const sent = await a.call('send', { conversationId: conv, body: 'seen elsewhere' });
    // A position a minute ahead of the message: this region's lookback (5 s + 10 s) does not
    // reach it, another region's (plus 5 min) does.
    const t = snowflakeTime(BigInt(sent.messageId)) + 60_000;
    const here = await open(bob, { resume: `v1.test.${t}` });
    assert.equal(here.messages(conv).length, 0);
    await here.close();
    const moved = await open(bob, { resume: `v1.us-east.${t}` });
    await moved.waitFor(isMessage(sent.messageId));
    const unknown = await open(bob, { resume: `v1.nowhere-known.${t}` });
    await unknown.waitFor(isMessage(sent.messageId));
  });

  it('refuses a malformed token: invalid_field on sync, HTTP 400 on connect', async () => {
    const bob = user('bob');
    const b = await open(bob);
    for (const position of [
      'garbage',
      'v2.test.1',
      'v1.test.12x',
      'v1.Test.1',
      `v1.test.1.${'9'.repeat(20)}`,
      7,
    ]) {
      const reply = await b.request('sync', { position });
      assert.equal(reply.op, 'error', JSON.stringify(reply));
      assert.equal(reply.code, 'invalid_field');
    }
    const long = `v1.test.1.${'1'.repeat(130)}`;
    assert.equal((await b.request('sync', { position: long })).code, 'invalid_field');
    const status = await TestClient.connectExpectingStatus(gw.url, await token(bob), { resume: 'nope' });
    assert.equal(status, 400);
    const refused = await IoTestClient.connectError(ioUrl(gw.url), await token(bob), { resume: 'nope' });
    assert.equal(refused.data?.code, 'invalid_field');
    const io = await IoTestClient.connect(ioUrl(gw.url), await token(bob), {
      resume: `v1.test.${Date.now()}`,
    });
    const ioSynced = await io.waitFor((f) => f.op === 'synced');
    await io.close();
    assert.ok(parsePosition(String(ioSynced.position)));
    const fine = await b.call('sync', { position: `v1.test.${Date.now()}` });
    assert.ok(parsePosition(fine.position));
  });

  it('fans a duplicate resend out again: a first attempt stored but never delivered reaches the recipient', async () => {
    const { alice, a, bobStays, conv } = await pair();
    // A first attempt that stored the message and died before the fan-out (and before the ack).
    const first = await gw.gateway.deps.storage.appendMessage({
      conversationId: conv,
      messageId: new SnowflakeGenerator(1, 9).next(),
      senderId: alice,
      clientMsgId: 'lost-1',
      body: 'stored, never delivered',
      createdAt: Date.now(),
    });
    assert.equal(first.duplicate, false);
    const resend = await a.call('send', {
      conversationId: conv,
      body: 'stored, never delivered',
      clientMsgId: 'lost-1',
    });
    assert.equal(resend.duplicate, true);
    assert.equal(resend.messageId, first.message.messageId.toString());
    const got = await bobStays.waitFor(isMessage(resend.messageId));
    assert.equal(got.replay, false);
    assert.ok(parsePosition(String(got.pos)));
  });
});

describe('resume positions: a truncated replay continues from its position', () => {
  let gw: TestGateway;
  const clients: TestClient[] = [];
  before(async () => {
    gw = await startTestGateway({ config: testConfig({}, { limits: { maxResumeMessages: 3 } }) });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.stop();
  });

  it('sends every missed message once, in id order, across continuations', async () => {
    const alice = user('alice');
    const bob = user('bob');
    const conv = dm(alice, bob);
    const connect = async (userId: string, resume?: string) => {
      const c = await TestClient.connect(gw.url, await token(userId), resume ? { resume } : {});
      clients.push(c);
      return c;
    };
    const a = await connect(alice);
    const stays = await connect(bob);
    await a.call('openDirect', { userId: bob });
    const b = await connect(bob);
    const position = String((await b.waitFor((f) => f.op === 'synced')).position);
    await b.close();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await a.call('send', { conversationId: conv, body: `m${i}` })).messageId);
    await stays.waitFor(isMessage(ids[6]!));
    const back = await connect(bob, position);
    let s = await back.waitFor((f) => f.op === 'synced');
    const rounds: boolean[] = [];
    for (;;) {
      rounds.push(s.truncated === true);
      if (s.truncated !== true) break;
      const cont = parsePosition(String(s.position));
      assert.equal(cont?.afterId?.toString(), s.lastId, 'the continuation skips what was sent');
      s = await back.request('sync', { position: s.position });
      assert.equal(s.op, 'synced', JSON.stringify(s));
    }
    assert.deepEqual(rounds, [true, true, false]);
    const got = back.messages(conv).map((m) => m.id);
    assert.deepEqual(got, ids, 'each once, in order');
    assert.equal(parsePosition(String(s.position))?.afterId, null, 'the last position is a plain one');
  });
});
