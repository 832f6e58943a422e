/**
 * End-to-end chat scenarios over the raw protocol, run against an embedded gateway and against
 * gateways on real Cassandra + Redis + NATS. `urls` gives one or more gateways of one region;
 * users are spread across them so the multi-gateway run crosses NATS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { token } from './helpers/gateway.ts';

export interface ScenarioEnv {
  urls: string[];
  stop(): Promise<void>;
}

let userSeq = 0;
/** A fresh user id per test so tests sharing a store do not see each other's data. */
function user(name: string): string {
  return `${name}${process.pid}x${Date.now().toString(36)}x${++userSeq}`;
}

async function connect(url: string, userId: string, opts: { since?: string; device?: string } = {}) {
  return TestClient.connect(url, await token(userId), opts);
}

function dm(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

export function gatewayScenarios(name: string, setup: () => Promise<ScenarioEnv>): void {
  describe(`chat scenarios: ${name}`, () => {
    let env: ScenarioEnv;
    const clients: TestClient[] = [];
    const urlFor = (i: number) => env.urls[i % env.urls.length]!;
    const open = async (i: number, userId: string, opts: { since?: string; device?: string } = {}) => {
      const c = await connect(urlFor(i), userId, opts);
      clients.push(c);
      await c.waitFor((f) => f.op === 'synced');
      return c;
    };

    before(async () => {
      env = await setup();
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await env.stop();
    });

    it('delivers a DM live to the recipient and the sender’s other device, acking the sender', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const a1 = await open(0, alice, { device: 'phone' });
      const a2 = await open(1, alice, { device: 'laptop' });
      const b = await open(1, bob);
      const conv = dm(alice, bob);
      const sent = await a1.request('send', { conversationId: conv, body: 'hi bob', clientMsgId: 'c1' });
      assert.equal(sent.op, 'sent');
      assert.equal(sent.conversationId, conv);
      assert.match(String(sent.messageId), /^\d+$/);
      for (const c of [b, a2]) {
        const f = await c.waitFor(
          (x) => x.op === 'message' && (x.message as { id: string }).id === sent.messageId,
        );
        assert.equal((f.message as { body: string }).body, 'hi bob');
        assert.equal((f.message as { senderId: string }).senderId, alice);
      }
      // The sending connection gets the ack, not a second copy.
      assert.equal(a1.messages(conv).length, 0);
      const reply = await b.request('send', { conversationId: conv, body: 'hi alice' });
      assert.equal(reply.op, 'sent');
      await a1.waitFor((x) => x.op === 'message' && (x.message as { body: string }).body === 'hi alice');
    });

    it('queues 100 messages for an offline recipient and replays them in order, exactly as acked', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const a = await open(0, alice);
      const b = await open(1, bob);
      const conv = dm(alice, bob);
      await a.call('send', { conversationId: conv, body: 'before', clientMsgId: 'x0' });
      await b.waitFor((f) => f.op === 'message');
      await b.close();
      await eventually(
        async () => {
          const p = await a.call<{ users: { status: string }[] }>('presence', { userIds: [bob] });
          assert.equal(p.users[0]?.status, 'offline');
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      const acked: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = await a.request('send', { conversationId: conv, body: `m${i}`, clientMsgId: `m${i}` });
        assert.equal(r.op, 'sent', JSON.stringify(r));
        acked.push(String(r.messageId));
      }
      const sorted = [...acked].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
      assert.deepEqual(acked, sorted, 'ids increase in send order');
      const b2 = await open(1, bob);
      const synced = await b2.waitFor((f) => f.op === 'synced');
      assert.equal(synced.count, 100);
      const got = b2.messages(conv);
      assert.deepEqual(
        got.map((m) => m.id),
        acked,
      );
      assert.deepEqual(
        got.map((m) => m.body),
        acked.map((_, i) => `m${i}`),
      );
      assert.ok(got.every((m) => m.replay));
      // Ack everything: the queue empties, and a later reconnect replays nothing.
      b2.sendRaw(JSON.stringify({ op: 'ack', messageIds: acked }));
      const ping = await b2.request('ping');
      assert.equal(ping.op, 'pong');
      await b2.close();
      await eventually(
        async () => {
          const b3 = await open(0, bob);
          const s = await b3.waitFor((f) => f.op === 'synced');
          await b3.close();
          assert.equal(s.count, 0);
        },
        { timeoutMs: 10_000, intervalMs: 200 },
      );
      // History agrees with what was acked, newest first, paged.
      const h = await open(0, alice);
      const page1 = await h.call<{ messages: { id: string }[]; hasMore: boolean }>('history', {
        conversationId: conv,
        limit: 60,
      });
      assert.equal(page1.messages.length, 60);
      assert.equal(page1.hasMore, true);
      const page2 = await h.call<{ messages: { id: string }[]; hasMore: boolean }>('history', {
        conversationId: conv,
        limit: 60,
        before: page1.messages[59]!.id,
      });
      assert.equal(page2.messages.length, 41);
      assert.equal(page2.hasMore, false);
      const all = [...page1.messages, ...page2.messages].map((m) => m.id).reverse();
      assert.deepEqual(all.slice(1), acked);
      const forward = await h.call<{ messages: { id: string }[]; order: string }>('history', {
        conversationId: conv,
        after: acked[49],
        limit: 10,
      });
      assert.equal(forward.order, 'oldest_first');
      assert.deepEqual(
        forward.messages.map((m) => m.id),
        acked.slice(50, 60),
      );
    });

    it('resumes a device from the last id it saw, across gateways, with nothing missed or repeated', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const carol = user('carol');
      const a = await open(0, alice);
      const b = await open(1, bob, { device: 'phone' });
      const bLaptop = await open(0, bob, { device: 'laptop' }); // keeps bob online: no queue entries
      await open(0, carol);
      const group = await a.call<{ conversation: { id: string } }>('createGroup', {
        title: 'g',
        members: [bob, carol],
      });
      const g = group.conversation.id;
      const first = await a.request('send', { conversationId: g, body: 'one' });
      await b.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === first.messageId);
      await b.close();
      const missed: string[] = [];
      for (let i = 0; i < 5; i++)
        missed.push(String((await a.request('send', { conversationId: g, body: `g${i}` })).messageId));
      missed.push(
        String((await a.request('send', { conversationId: dm(alice, bob), body: 'dm' })).messageId),
      );
      await bLaptop.waitFor((f) => f.op === 'message' && (f.message as { body: string }).body === 'dm');
      const b2 = await open(0, bob, { device: 'phone', since: String(first.messageId) });
      const s = await b2.waitFor((f) => f.op === 'synced');
      assert.equal(s.count, 6);
      assert.deepEqual(
        b2.messages().map((m) => m.id),
        missed,
      );
    });

    it('makes a resend with the same clientMsgId idempotent: same id, delivered once', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const a = await open(0, alice);
      const b = await open(1, bob);
      const conv = dm(alice, bob);
      const r1 = await a.request('send', { conversationId: conv, body: 'once', clientMsgId: 'same' });
      const r2 = await a.request('send', { conversationId: conv, body: 'once', clientMsgId: 'same' });
      assert.equal(r1.duplicate, false);
      assert.equal(r2.duplicate, true);
      assert.equal(r2.messageId, r1.messageId);
      const marker = await a.request('send', { conversationId: conv, body: 'marker' });
      await b.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === marker.messageId);
      assert.equal(b.messages(conv).filter((m) => m.body === 'once').length, 1);
      const hist = await b.call<{ messages: { body: string }[] }>('history', { conversationId: conv });
      assert.equal(hist.messages.filter((m) => m.body === 'once').length, 1);
    });

    it('runs groups: create, add, remove, membership checks, list with unread counts, read receipts', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const carol = user('carol');
      const dave = user('dave');
      const a = await open(0, alice);
      const b = await open(1, bob);
      const c = await open(0, carol);
      const d = await open(1, dave);
      const created = await a.call<{ conversation: { id: string; members: string[]; kind: string } }>(
        'createGroup',
        {
          title: 'team',
          members: [bob],
        },
      );
      const g = created.conversation.id;
      assert.equal(created.conversation.kind, 'group');
      assert.deepEqual(created.conversation.members, [alice, bob].sort());
      await b.waitFor((f) => f.op === 'conversation' && (f.conversation as { id: string }).id === g);
      // carol is not a member yet
      const denied = await c.request('send', { conversationId: g, body: 'let me in' });
      assert.equal(denied.op, 'error');
      assert.equal(denied.code, 'forbidden');
      const hist = await c.request('history', { conversationId: g });
      assert.equal(hist.code, 'forbidden');
      const missing = await c.request('send', { conversationId: 'g:123', body: 'x' });
      assert.equal(missing.code, 'not_found');
      await b.call('addMembers', { conversationId: g, userIds: [carol] });
      await c.waitFor((f) => f.op === 'conversation' && f.event === 'members_added');
      const m1 = await a.request('send', { conversationId: g, body: 'welcome carol' });
      for (const x of [b, c])
        await x.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === m1.messageId);
      // only the creator removes others; anyone may leave
      const notCreator = await b.request('removeMembers', { conversationId: g, userIds: [carol] });
      assert.equal(notCreator.code, 'forbidden');
      await c.call('removeMembers', { conversationId: g, userIds: [carol] });
      const gone = await c.request('send', { conversationId: g, body: 'still here?' });
      assert.equal(gone.code, 'forbidden');
      // dave is a stranger: DMs between others are not his
      const snoop = await d.request('history', { conversationId: dm(alice, bob) });
      assert.ok(snoop.code === 'forbidden' || snoop.code === 'not_found');
      // unread counts and receipts
      const m2 = await a.request('send', { conversationId: g, body: 'two' });
      const m3 = await a.request('send', { conversationId: g, body: 'three' });
      await b.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === m3.messageId);
      const list = await b.call<{
        conversations: { id: string; unreadCount: number; lastMessage: { id: string } }[];
      }>('listConversations');
      const entry = list.conversations.find((x) => x.id === g);
      assert.ok(entry);
      assert.equal(entry.unreadCount, 3);
      assert.equal(entry.lastMessage.id, m3.messageId);
      await b.call('read', { conversationId: g, messageId: m2.messageId });
      const receipt = await a.waitFor((f) => f.op === 'receipt' && f.userId === bob);
      assert.equal(receipt.messageId, m2.messageId);
      const list2 = await b.call<{ conversations: { id: string; unreadCount: number }[] }>(
        'listConversations',
      );
      assert.equal(list2.conversations.find((x) => x.id === g)?.unreadCount, 1);
      const aList = await a.call<{ conversations: { id: string; unreadCount: number }[] }>(
        'listConversations',
      );
      assert.equal(
        aList.conversations.find((x) => x.id === g)?.unreadCount,
        0,
        'own messages are not unread',
      );
    });

    it('answers bad input with typed errors, keeps the connection usable, and leaves others unaffected', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const a = await open(0, alice);
      const b = await open(1, bob);
      a.sendRaw('{not json');
      assert.equal((await a.nextFrame((f) => f.op === 'error')).code, 'bad_frame');
      a.sendRaw('[1,2]');
      assert.equal((await a.nextFrame((f) => f.op === 'error')).code, 'bad_frame');
      const unknown = await a.request('fly', {});
      assert.equal(unknown.code, 'unknown_op');
      const noBody = await a.request('send', { conversationId: dm(alice, bob) });
      assert.equal(noBody.code, 'invalid_field');
      assert.deepEqual(noBody.details, { field: 'body' });
      const badConv = await a.request('send', { conversationId: 42, body: 'x' });
      assert.equal(badConv.code, 'invalid_field');
      const badId = await a.request('history', { conversationId: dm(alice, bob), before: 'abc' });
      assert.equal(badId.code, 'invalid_field');
      a.sendRaw(Buffer.from([1, 2, 3]));
      assert.equal((await a.nextFrame((f) => f.op === 'error')).code, 'bad_frame');
      const ok = await a.request('send', { conversationId: dm(alice, bob), body: 'still works' });
      assert.equal(ok.op, 'sent');
      await b.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === ok.messageId);
    });
  });
}
