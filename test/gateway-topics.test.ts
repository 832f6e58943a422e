/**
 * Live messages through uWS's topics (`LocalTopics`): what the JS path promised must still hold
 * when most deliveries are one `publish` — order per connection, hold-back during a replay, the
 * sender's own socket left out, and nothing for a member after their removal was acked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestClient as Client, Frame } from './helpers/client.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';

const isMessage = (conversationId: string) => (f: Frame) =>
  f.op === 'message' && (f.message as { conversationId: string }).conversationId === conversationId;

async function connected(gw: TestGateway, userId: string, device?: string): Promise<Client> {
  const c = await TestClient.connect(gw.url, await token(userId), device ? { device } : {});
  await c.waitFor((f) => f.op === 'synced');
  return c;
}

/** Live message ids of a conversation as one client received them, in arrival order. */
function liveIds(c: Client, conversationId: string): bigint[] {
  return c
    .messages(conversationId)
    .filter((m) => !m.replay)
    .map((m) => BigInt(m.id));
}

function ascending(ids: bigint[]): boolean {
  return ids.every((id, i) => i === 0 || ids[i - 1]! < id);
}

describe('live fan-out through uWS topics', () => {
  let gw: TestGateway;
  before(async () => {
    // Senders here go well past the default rate limit.
    gw = await startTestGateway({
      config: testConfig(
        {},
        { limits: { rateLimitPerSec: 100_000, rateLimitBurst: 100_000, maxBackpressureBytes: 128 * 1024 } },
      ),
    });
  });
  after(() => gw.stop());

  it('publishes to the members by topic, in id order, never to the sending socket', async () => {
    const alice = await connected(gw, 'tp-alice', 'web');
    const alice2 = await connected(gw, 'tp-alice', 'phone');
    const bob = await connected(gw, 'tp-bob');
    const carol = await connected(gw, 'tp-carol');
    const { conversation } = await alice.call('createGroup', { title: 't', members: ['tp-bob', 'tp-carol'] });
    const g = conversation.id;
    // Two senders at once, many in flight: each receiver sees one conversation in id order.
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      sends.push(alice.call('send', { conversationId: g, body: `a${i}`, clientMsgId: `tp-a${i}` }));
      sends.push(bob.call('send', { conversationId: g, body: `b${i}`, clientMsgId: `tp-b${i}` }));
    }
    await Promise.all(sends);
    for (const c of [alice2, carol]) await eventually(() => assert.equal(liveIds(c, g).length, 80));
    await eventually(() => assert.equal(liveIds(alice, g).length, 40));
    await eventually(() => assert.equal(liveIds(bob, g).length, 40));
    for (const c of [alice, alice2, bob, carol]) assert.ok(ascending(liveIds(c, g)), 'id order');
    assert.ok(
      alice.messages(g).every((m) => m.senderId !== 'tp-alice'),
      'not to the sending socket',
    );
    assert.ok(bob.messages(g).every((m) => m.senderId !== 'tp-bob'));
    assert.ok(gw.gateway.hub.topicsInUse >= 1, 'delivered by topic');
    // A reply asked for after a message arrived comes after it, and the socket still works.
    assert.equal((await carol.request('ping')).op, 'pong');
    for (const c of [alice, alice2, bob, carol]) await c.close();
  });

  it('holds live messages back during a sync and sends none of those it replayed', async () => {
    const alice = await connected(gw, 'th-alice');
    const bob = await connected(gw, 'th-bob');
    const { conversation } = await alice.call('createGroup', { title: 'h', members: ['th-bob'] });
    const g = conversation.id;
    // Bob gets a few by topic first, so he is subscribed when his sync begins.
    for (let i = 0; i < 5; i++) await alice.call('send', { conversationId: g, body: `w${i}` });
    await eventually(() => assert.equal(liveIds(bob, g).length, 5));
    assert.ok(gw.gateway.hub.topicsInUse >= 1);
    // History for a long replay (several pages), then a sync from before all of it while alice
    // keeps sending: the live ones must wait until the replay is written.
    for (let i = 0; i < 40; i++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => alice.call('send', { conversationId: g, body: `h${i}-${j}` })),
      );
    }
    const before = bob.frames.length;
    let sending = true;
    const during: Promise<unknown>[] = [];
    const pump = (async () => {
      for (let i = 0; sending && i < 200; i++) {
        during.push(alice.call('send', { conversationId: g, body: `d${i}` }));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const synced = await bob.request('sync', { since: '1' }, 30_000);
    sending = false;
    await pump;
    await Promise.all(during);
    assert.equal(synced.op, 'synced');
    const frames = bob.frames.slice(before).filter(isMessage(g));
    const replayAt = frames.map((f, i) => (f.replay ? i : -1)).filter((i) => i >= 0);
    assert.ok(replayAt.length >= 400, `replayed ${replayAt.length}`);
    const first = replayAt[0]!;
    const last = replayAt[replayAt.length - 1]!;
    const live = frames.slice(first, last + 1).filter((f) => !f.replay);
    assert.deepEqual(live, [], 'no live message between the first and the last replayed one');
    const replayed = new Set(frames.filter((f) => f.replay).map((f) => (f.message as { id: string }).id));
    const liveAfter = frames.slice(last + 1).map((f) => (f.message as { id: string }).id);
    assert.ok(
      liveAfter.every((id) => !replayed.has(id)),
      'a held live copy of a replayed message is dropped',
    );
    // Everything sent reached bob, live or replayed, and the live ones after the replay in order.
    const sentIds = (await Promise.all(during)) as { messageId: string }[];
    await eventually(() => {
      const got = new Set(bob.messages(g).map((m) => m.id));
      for (const s of sentIds) assert.ok(got.has(s.messageId), `missing ${s.messageId}`);
    });
    assert.ok(ascending(frames.slice(last + 1).map((f) => BigInt((f.message as { id: string }).id))));
    await bob.close();
    await alice.close();
  });

  it('sends a removed member nothing of the conversation once the removal is acked', async () => {
    const alice = await connected(gw, 'tr-alice');
    const bob = await connected(gw, 'tr-bob');
    const carol = await connected(gw, 'tr-carol');
    const { conversation } = await alice.call('createGroup', { title: 'r', members: ['tr-bob', 'tr-carol'] });
    const g = conversation.id;
    for (let i = 0; i < 5; i++) await alice.call('send', { conversationId: g, body: `before${i}` });
    await eventually(() => assert.equal(liveIds(carol, g).length, 5));
    await alice.call('removeMembers', { conversationId: g, userIds: ['tr-carol'] });
    const seenByCarol = carol.messages(g).length;
    const after: string[] = [];
    for (let i = 0; i < 10; i++) {
      after.push((await alice.call('send', { conversationId: g, body: `after${i}` })).messageId);
    }
    await eventually(() => assert.equal(liveIds(bob, g).length, 15));
    // Bob keeps getting them (by topic again once it was rebuilt); carol got none.
    assert.equal(carol.messages(g).length, seenByCarol);
    assert.ok(carol.messages(g).every((m) => !after.includes(m.id)));
    assert.equal((await carol.request('ping')).op, 'pong');
    for (const c of [alice, bob, carol]) await c.close();
  });

  it('closes a subscribed member that stops reading with 4509; it resumes and gets everything once', async () => {
    const alice = await connected(gw, 'ts-alice');
    const slow = await connected(gw, 'ts-slow');
    const carol = await connected(gw, 'ts-carol');
    const { conversation } = await alice.call('createGroup', {
      title: 's',
      members: ['ts-slow', 'ts-carol'],
    });
    const g = conversation.id;
    await alice.call('send', { conversationId: g, body: 'first' });
    await eventually(() => assert.equal(liveIds(slow, g).length, 1));
    const topicsBefore = gw.gateway.hub.topicsInUse;
    assert.ok(topicsBefore >= 1, 'the slow member is reached by topic');
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const closed = slow.waitClose(60_000);
    let isClosed = false;
    void closed.then(() => {
      isClosed = true;
    });
    const body = 'y'.repeat(4000);
    let sent = 1;
    // Bounded: 2,000 × 4 KB = 8 MB, far more than loopback buffers plus the 128 KB limit.
    while (sent < 2000 && !isClosed && gw.gateway.hub.connectionCount >= 3) {
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          alice.call('send', { conversationId: g, body, clientMsgId: `ts-${sent + i}` }),
        ),
      );
      sent += 25;
    }
    socket.resume();
    assert.ok([4509, 1006].includes(await closed), `close code ${slow.closeCode}`);
    assert.ok(sent < 2000, 'closed before the bound');
    await eventually(() => assert.equal(carol.messages(g).length, sent));
    assert.ok(ascending(liveIds(carol, g)));
    const again = await TestClient.connect(gw.url, await token('ts-slow'), { since: '1' });
    const synced = await again.waitFor((f) => f.op === 'synced', 30_000);
    assert.equal(synced.count, sent);
    const ids = again.messages(g).map((m) => BigInt(m.id));
    assert.equal(new Set(ids).size, sent, 'each once');
    assert.ok(ascending(ids));
    for (const c of [again, carol, alice]) await c.close();
  });
});
