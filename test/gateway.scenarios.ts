/**
 * End-to-end chat scenarios over the raw protocol, run against an embedded gateway and against
 * gateways on real Cassandra + Redis + NATS. `urls` gives one or more gateways of one region;
 * users are spread across them so the multi-gateway run crosses NATS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { searchScenarios } from './gateway-search.scenarios.ts';
import { type Frame, resultData, TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { token } from './helpers/gateway.ts';
import { type IoConnectOptions, IoTestClient, ioUrl } from './helpers/io-client.ts';

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
    const clients: (TestClient | IoTestClient)[] = [];
    const urlFor = (i: number) => env.urls[i % env.urls.length]!;
    const open = async (i: number, userId: string, opts: { since?: string; device?: string } = {}) => {
      const c = await connect(urlFor(i), userId, opts);
      clients.push(c);
      // Generous: a replay from Cassandra on a loaded 2-core machine can take seconds.
      await c.waitFor((f) => f.op === 'synced', 30_000);
      return c;
    };
    const openIo = async (i: number, userId: string, opts: IoConnectOptions = {}) => {
      const c = await IoTestClient.connect(ioUrl(urlFor(i)), await token(userId), opts);
      clients.push(c);
      // Generous: a replay from Cassandra on a loaded 2-core machine can take seconds.
      await c.waitFor((f) => f.op === 'synced', 30_000);
      return c;
    };

    before(async () => {
      env = await setup();
    });
    searchScenarios(() => ({ open, openIo, user, dm }));
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
          const p = await a.call('presence', { userIds: [bob] });
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
      const page1 = await h.call('history', {
        conversationId: conv,
        limit: 60,
      });
      assert.equal(page1.messages.length, 60);
      assert.equal(page1.hasMore, true);
      const page2 = await h.call('history', {
        conversationId: conv,
        limit: 60,
        before: page1.messages[59]!.id,
      });
      assert.equal(page2.messages.length, 41);
      assert.equal(page2.hasMore, false);
      const all = [...page1.messages, ...page2.messages].map((m) => m.id).reverse();
      assert.deepEqual(all.slice(1), acked);
      const forward = await h.call('history', {
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
      const group = await a.call('createGroup', {
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

    it('makes a resend with the same clientMsgId idempotent: same id, stored once, fanned out again', async () => {
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
      // A duplicate is fanned out again (its first attempt may have died before the fan-out):
      // the same message, which clients drop by id.
      const copies = b.messages(conv).filter((m) => m.body === 'once');
      assert.ok(copies.length >= 1 && copies.length <= 2, `${copies.length} copies`);
      assert.deepEqual(new Set(copies.map((m) => m.id)), new Set([r1.messageId]));
      const hist = await b.call('history', { conversationId: conv });
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
      const created = await a.call('createGroup', {
        title: 'team',
        members: [bob],
      });
      const g = created.conversation.id;
      assert.equal(created.conversation.kind, 'group');
      assert.deepEqual(created.conversation.members, [alice, bob].sort());
      await b.waitFor((f) => f.op === 'conversation' && (f.conversation as { id: string }).id === g);
      // carol is not a member yet: told exactly what she is told of a group that does not exist,
      // so she cannot learn that this one does
      const denied = await c.request('send', { conversationId: g, body: 'let me in' });
      assert.equal(denied.op, 'error');
      assert.equal(denied.code, 'not_found');
      const hist = await c.request('history', { conversationId: g });
      assert.equal(hist.code, 'not_found');
      const missing = await c.request('send', { conversationId: 'g:123', body: 'x' });
      assert.deepEqual(
        [denied.code, denied.message, denied.details],
        [missing.code, missing.message, { conversationId: g }],
      );
      assert.deepEqual(missing.details, { conversationId: 'g:123' });
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
      assert.equal(gone.code, 'not_found');
      // dave is a stranger: DMs between others (existing or not) are not his
      const snoop = await d.request('history', { conversationId: dm(alice, bob) });
      assert.equal(snoop.code, 'not_found');
      const snoopNone = await d.request('history', { conversationId: dm(alice, carol) });
      assert.deepEqual([snoopNone.code, snoopNone.message], [snoop.code, snoop.message]);
      // unread counts and receipts
      const m2 = await a.request('send', { conversationId: g, body: 'two' });
      const m3 = await a.request('send', { conversationId: g, body: 'three' });
      await b.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === m3.messageId);
      const list = await b.call('listConversations');
      const entry = list.conversations.find((x) => x.id === g);
      assert.ok(entry);
      assert.equal(entry.unreadCount, 3);
      assert.equal(entry.lastMessage?.id, m3.messageId);
      await b.call('read', { conversationId: g, messageId: m2.messageId });
      const receipt = await a.waitFor((f) => f.op === 'receipt' && f.userId === bob);
      assert.equal(receipt.messageId, m2.messageId);
      const list2 = await b.call('listConversations');
      assert.equal(list2.conversations.find((x) => x.id === g)?.unreadCount, 1);
      const aList = await a.call('listConversations');
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

    it('streams presence to subscribers: snapshot, online, away, offline; unsubscribe stops it', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const carol = user('carol');
      const a = await open(0, alice);
      const c = await openIo(1, carol);
      const snap = await a.call('subscribePresence', {
        userIds: [bob],
      });
      assert.deepEqual(
        snap.users.map((u) => [u.userId, u.status]),
        [[bob, 'offline']],
      );
      await c.call('subscribePresence', { userIds: [bob] });
      const isBob = (status: string) => (f: Frame) =>
        f.op === 'presence' && f.userId === bob && f.status === status;
      const b = await open(1, bob);
      const online = await a.waitFor(isBob('online'));
      assert.deepEqual(Object.keys(online).sort(), ['devices', 'lastSeen', 'op', 'status', 'userId']);
      assert.equal(online.devices, 1);
      await c.waitFor(isBob('online'));
      await b.call('setAway', { away: true });
      await a.waitFor(isBob('away'));
      await c.waitFor(isBob('away'));
      const p = await a.call('presence', { userIds: [bob] });
      assert.equal(p.users[0]?.status, 'away');
      await b.call('setAway', { away: false });
      await a.waitFor(
        (f) => f.op === 'presence' && f.userId === bob && f.status === 'online' && f !== online,
      );
      await a.call('unsubscribePresence', { userIds: [bob] });
      const before = a.frames.filter((f) => f.op === 'presence').length;
      await b.close();
      const offline = await c.waitFor(isBob('offline'));
      assert.equal(offline.devices, 0);
      assert.equal(typeof offline.lastSeen, 'number');
      // alice unsubscribed: a marker that crosses the same paths arrives, her presence events do not.
      const marker = await c.request('send', { conversationId: dm(alice, carol), body: 'marker' });
      await a.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === marker.messageId);
      assert.equal(a.frames.filter((f) => f.op === 'presence').length, before);
      const bad = await a.request('subscribePresence', { userIds: [] });
      assert.equal(bad.code, 'invalid_field');
      const badAway = await a.request('setAway', { away: 'yes' });
      assert.deepEqual([badAway.code, badAway.details], ['invalid_field', { field: 'away' }]);
    });

    it('fans typing out to the members’ other connections, coalesced, ephemeral, members only', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const carol = user('carol');
      const dave = user('dave');
      const a1 = await open(0, alice, { device: 'phone' });
      const a2 = await open(1, alice, { device: 'laptop' });
      const b = await openIo(1, bob);
      const c = await open(2, carol);
      const d = await open(0, dave);
      const g = (await a1.call('createGroup', { title: 't', members: [bob, carol] })).conversation.id;
      await c.waitFor((f) => f.op === 'conversation');
      const first = await a1.request('typing', { conversationId: g });
      assert.equal(first.op, 'result');
      assert.equal(resultData('typing', first).coalesced, false);
      const expiresAt = resultData('typing', first).expiresAt;
      for (const x of [a2, b, c]) {
        const t = await x.waitFor((f) => f.op === 'typing');
        assert.deepEqual(t, { op: 'typing', conversationId: g, userId: alice, expiresAt });
      }
      // Within the interval: coalesced, answered, not fanned out again; fire-and-forget gets nothing.
      const again = await a1.request('typing', { conversationId: g });
      assert.equal(resultData('typing', again).coalesced, true);
      a1.sendRaw(JSON.stringify({ op: 'typing', conversationId: g }));
      const marker = await a1.request('send', { conversationId: g, body: 'done typing' });
      for (const x of [a2, b, c]) {
        await x.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === marker.messageId);
        assert.equal(x.frames.filter((f) => f.op === 'typing').length, 1);
      }
      assert.equal(a1.frames.filter((f) => f.op === 'typing').length, 0, 'not to the typing connection');
      // Never stored: history holds only the message.
      const hist = await c.call('history', { conversationId: g });
      assert.equal(hist.messages.length, 1);
      // Other conversations have their own window; bob types over Socket.IO.
      await b.call('typing', { conversationId: dm(alice, bob) });
      await a1.waitFor((f) => f.op === 'typing' && f.userId === bob);
      // Members only.
      const denied = await d.request('typing', { conversationId: g });
      assert.equal(denied.code, 'not_found');
      d.sendRaw(JSON.stringify({ op: 'typing', conversationId: g }));
      const silentDenied = await d.nextFrame((f) => f.op === 'error');
      assert.deepEqual([silentDenied.code, silentDenied.id], ['not_found', null]);
      assert.equal(c.frames.filter((f) => f.op === 'typing' && f.userId === dave).length, 0);
    });

    it('sends a read receipt to the reader’s other devices, and unread counts agree on every device', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const a = await open(0, alice);
      const b1 = await open(0, bob, { device: 'phone' });
      const b2 = await openIo(1, bob, { device: 'laptop' });
      const g = (await a.call('createGroup', { title: 'r', members: [bob] })).conversation.id;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(String((await a.request('send', { conversationId: g, body: `r${i}` })).messageId));
      await b2.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === ids[2]);
      const unread = async (x: TestClient | IoTestClient) =>
        (await x.call('listConversations')).conversations.find((s) => s.id === g)?.unreadCount;
      assert.equal(await unread(b2), 3);
      await b1.call('read', { conversationId: g, messageId: ids[1] });
      const r2 = await b2.waitFor((f) => f.op === 'receipt');
      assert.deepEqual(r2, { op: 'receipt', conversationId: g, userId: bob, messageId: ids[1] });
      await a.waitFor((f) => f.op === 'receipt' && f.userId === bob);
      assert.equal(b1.frames.filter((f) => f.op === 'receipt').length, 0, 'not to the reading connection');
      assert.equal(await unread(b2), 1);
      assert.equal(await unread(b1), 1);
      await b2.call('read', { conversationId: g, messageId: ids[2] });
      await b1.waitFor((f) => f.op === 'receipt' && f.messageId === ids[2]);
      assert.equal(await unread(b1), 0);
      // The marker only moves forward.
      await b1.call('read', { conversationId: g, messageId: ids[0] });
      assert.equal(await unread(b2), 0);
    });

    it('queues exactly one offline entry per message when senders on several gateways race', async () => {
      const [alice, bob, carol, dave] = [user('alice'), user('bob'), user('carol'), user('dave')];
      const a = await open(0, alice);
      const b = await openIo(1, bob);
      const c = await open(2, carol);
      const g = (
        await a.call('createGroup', {
          title: 'q',
          members: [bob, carol, dave],
        })
      ).conversation.id;
      await c.waitFor((f) => f.op === 'conversation');
      // dave also has devices on two gateways first: each gets every message once.
      const d1 = await open(0, dave);
      const d2 = await open(1, dave);
      const live = await a.request('send', { conversationId: g, body: 'live' });
      for (const d of [d1, d2]) {
        await d.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === live.messageId);
      }
      await d1.close();
      await d2.close();
      await eventually(
        async () => {
          const p = await a.call('presence', { userIds: [dave] });
          assert.equal(p.users[0]?.status, 'offline');
        },
        { timeoutMs: 10_000 },
      );
      const acked = await Promise.all(
        [a, b, c].flatMap((x, s) =>
          Array.from({ length: 10 }, (_, i) =>
            x
              .request('send', { conversationId: g, body: `s${s}-${i}`, clientMsgId: `s${s}-${i}` })
              .then((r) => {
                assert.equal(r.op, 'sent', JSON.stringify(r));
                return String(r.messageId);
              }),
          ),
        ),
      );
      // Two gateways deliver to dave at once: a DM from alice's devices on both.
      const a2 = await open(1, alice);
      const dmAcks = await Promise.all(
        [a, a2].map((x, s) => x.request('send', { conversationId: dm(alice, dave), body: `dm${s}` })),
      );
      acked.push(...dmAcks.map((r) => String(r.messageId)));
      const sorted = [...acked].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
      await eventually(
        async () => {
          const d = await open(2, dave);
          const s = await d.waitFor((f) => f.op === 'synced');
          await d.close();
          assert.equal(s.count, acked.length);
          assert.deepEqual(
            d.messages().map((m) => m.id),
            sorted,
            'each message replayed once, in id order',
          );
        },
        { timeoutMs: 10_000, intervalMs: 200 },
      );
    });

    it('resumes a Socket.IO client on another gateway from auth.since, beside raw clients', async () => {
      const alice = user('alice');
      const bob = user('bob');
      const a = await open(0, alice);
      const bKeep = await open(0, bob, { device: 'desk' }); // bob stays online: no queue entries
      const b = await openIo(1, bob, { device: 'phone', transports: ['websocket'] });
      const conv = dm(alice, bob);
      const first = await a.request('send', { conversationId: conv, body: 'one' });
      await b.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === first.messageId);
      await b.close();
      const missed: string[] = [];
      for (let i = 0; i < 4; i++)
        missed.push(String((await a.request('send', { conversationId: conv, body: `m${i}` })).messageId));
      await bKeep.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === missed[3]);
      const b2 = await openIo(0, bob, { device: 'phone', since: String(first.messageId) });
      assert.equal((await b2.waitFor((f) => f.op === 'synced')).count, 4);
      assert.deepEqual(
        b2.messages(conv).map((m) => m.id),
        missed,
      );
      const live = await a.request('send', { conversationId: conv, body: 'live' });
      const got = await b2.waitFor(
        (f) => f.op === 'message' && (f.message as { id: string }).id === live.messageId,
      );
      assert.equal(got.replay, false);
    });
  });
}
