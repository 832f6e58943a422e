/**
 * Replies and threads end to end, over the raw protocol and Socket.IO, against the same gateway
 * setups as `gateway.scenarios.ts`: a reply quotes its parent and carries its root's count live
 * to every device; replies to replies join the root's thread; `thread` pages; typed errors; a
 * deleted parent is quoted with no text anywhere; an offline member catches up to the final
 * count with no deleted body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WireMessage } from '../src/protocol/index.ts';
import type { ScenarioEnv } from './gateway.scenarios.ts';
import type { Frame, TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { scenarioClients, scenarioUser } from './helpers/scenario-clients.ts';

const user = scenarioUser;

const isMessage = (id: string) => (f: Frame) => f.op === 'message' && (f.message as WireMessage).id === id;

export function threadScenarios(name: string, setup: () => Promise<ScenarioEnv>): void {
  describe(`replies and threads: ${name}`, () => {
    let env: ScenarioEnv;
    const { open, openIo, closeAll } = scenarioClients(() => env);
    const group = async (owner: TestClient, members: string[]) =>
      (await owner.call('createGroup', { title: 'threads', members })).conversation.id;

    before(async () => {
      env = await setup();
    });
    after(async () => {
      await closeAll();
      await env.stop();
    });

    it('delivers replies live with the quote and the root count; replies to replies join the root', async () => {
      const [alice, bob, dan] = [user('alice'), user('bob'), user('dan')];
      const a1 = await open(0, alice, { device: 'phone' });
      const a2 = await open(1, alice, { device: 'laptop' });
      const b = await open(1, bob);
      const d = await openIo(0, dan);
      const conv = await group(a1, [bob, dan]);
      const long = `question ${'x'.repeat(150)}`;
      const { messageId: root } = await a1.call('send', { conversationId: conv, body: long });
      const r1 = await b.call('send', { conversationId: conv, body: 'answer', replyTo: root });
      assert.equal(r1.threadRoot, root);
      assert.deepEqual(r1.rootThread, {
        replyCount: 1,
        lastReplyId: r1.messageId,
        lastReplyAt: r1.createdAt,
      });
      for (const c of [a1, a2, d]) {
        const m = (await c.waitFor(isMessage(r1.messageId))).message as WireMessage;
        assert.deepEqual(m.replyTo, {
          id: root,
          senderId: alice,
          preview: long.slice(0, 100),
          deleted: false,
        });
        assert.equal(m.threadRoot, root);
        assert.equal(m.rootThread?.replyCount, 1);
        assert.equal(m.rootThread?.lastReplyId, r1.messageId);
        assert.equal(m.rootThread?.lastReplyAt, r1.createdAt);
      }
      // A reply to the reply, over Socket.IO: quotes the reply, belongs to the root's thread.
      const r2 = await d.call('send', { conversationId: conv, body: 'follow-up', replyTo: r1.messageId });
      const m2 = (await b.waitFor(isMessage(r2.messageId))).message as WireMessage;
      assert.equal(m2.replyTo?.id, r1.messageId);
      assert.equal(m2.replyTo?.preview, 'answer');
      assert.equal(m2.threadRoot, root);
      assert.equal(m2.rootThread?.replyCount, 2);

      const page = await b.call('history', { conversationId: conv, limit: 10 });
      const shown = page.messages.find((m) => m.id === root);
      assert.deepEqual(shown?.thread, {
        replyCount: 2,
        lastReplyId: r2.messageId,
        lastReplyAt: r2.createdAt,
      });
      assert.equal(page.messages.find((m) => m.id === r1.messageId)?.replyTo?.preview, long.slice(0, 100));

      const thread = await a2.call('thread', { conversationId: conv, rootId: root, limit: 1 });
      assert.equal(thread.root.id, root);
      assert.equal(thread.root.thread?.replyCount, 2);
      assert.equal(thread.order, 'newest_first');
      assert.deepEqual(
        thread.messages.map((m) => m.id),
        [r2.messageId],
      );
      assert.equal(thread.hasMore, true);
      const older = await d.call('thread', { conversationId: conv, rootId: root, before: r2.messageId });
      assert.deepEqual(
        older.messages.map((m) => m.id),
        [r1.messageId],
      );
      assert.equal(older.hasMore, false);
      const oldest = await a1.call('thread', { conversationId: conv, rootId: root, after: '0', limit: 5 });
      assert.equal(oldest.order, 'oldest_first');
      assert.deepEqual(
        oldest.messages.map((m) => m.id),
        [r1.messageId, r2.messageId],
      );
    });

    it('answers typed errors: unknown parent, parent elsewhere, thread of a reply, not a member', async () => {
      const [alice, bob, eve] = [user('alice'), user('bob'), user('eve')];
      const a = await open(0, alice);
      const e = await open(1, eve);
      const conv = await group(a, [bob]);
      const other = await group(a, [eve]);
      const { messageId: root } = await a.call('send', { conversationId: conv, body: 'root' });
      const { messageId: elsewhere } = await a.call('send', { conversationId: other, body: 'other' });
      const reply = await a.call('send', { conversationId: conv, body: 'r', replyTo: root });
      const code = async (c: TestClient, op: 'send' | 'thread', fields: Record<string, unknown>) =>
        (await c.request(op, { conversationId: conv, body: 'x', ...fields })).code;
      assert.equal(await code(a, 'send', { replyTo: '12345' }), 'not_found');
      assert.equal(await code(a, 'send', { replyTo: elsewhere }), 'not_found');
      assert.equal(await code(a, 'send', { replyTo: 'abc' }), 'invalid_field');
      assert.equal(await code(a, 'thread', {}), 'invalid_field');
      assert.equal(await code(a, 'thread', { rootId: '12345' }), 'not_found');
      assert.equal(await code(a, 'thread', { rootId: reply.messageId }), 'invalid_field');
      assert.equal(await code(a, 'thread', { rootId: root, before: root, after: root }), 'invalid_field');
      assert.equal(await code(e, 'thread', { rootId: root }), 'not_found');
      assert.equal(await code(e, 'send', { replyTo: root }), 'not_found');
      // A deleted message may still be replied to: its thread stays, quoting it as deleted.
      await a.call('delete', { conversationId: conv, messageId: root });
      const late = await a.call('send', { conversationId: conv, body: 'still here', replyTo: root });
      assert.equal(late.rootThread?.replyCount, 2);
      const page = await a.call('thread', { conversationId: conv, rootId: root });
      assert.equal(page.root.state?.deleted, true);
      assert.deepEqual(page.messages[0]?.replyTo, { id: root, senderId: alice, preview: '', deleted: true });
      assert.equal((await a.request('ping')).op, 'pong');
    });

    it('brings an offline member to the final thread, quoting a deleted parent with no text', async () => {
      const [alice, bob, carol] = [user('alice'), user('bob'), user('carol')];
      const a = await open(0, alice);
      const b = await open(1, bob);
      const conv = await group(a, [bob, carol]);
      const c0 = await open(1, carol);
      const { messageId: root } = await a.call('send', { conversationId: conv, body: 'plans?' });
      const lastPos = String((await c0.waitFor(isMessage(root))).pos);
      await c0.close();
      await eventually(
        async () => {
          const p = await a.call('presence', { userIds: [carol] });
          assert.equal(p.users[0]?.status, 'offline');
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      const secret = await b.call('send', { conversationId: conv, body: 'secret plan', replyTo: root });
      const r2 = await a.call('send', { conversationId: conv, body: 'ok', replyTo: secret.messageId });
      await b.call('send', { conversationId: conv, body: 'see you', replyTo: root });
      await b.call('delete', { conversationId: conv, messageId: secret.messageId });

      for (const opts of [{}, { resume: lastPos }]) {
        const c = await open(1, carol, opts);
        const everything = JSON.stringify(c.frames);
        assert.ok(!everything.includes('secret'), `a deleted body reached the client: ${everything}`);
        const quoted = (c.frames.find(isMessage(r2.messageId))?.message as WireMessage | undefined)?.replyTo;
        assert.deepEqual(quoted, { id: secret.messageId, senderId: bob, preview: '', deleted: true });
        const counts = c.frames
          .filter((f) => f.op === 'message')
          .map((f) => (f.message as WireMessage).rootThread?.replyCount ?? 0);
        assert.equal(Math.max(...counts), 3, 'the root count after catch-up counts every reply');
        await c.close();
      }
      const thread = await a.call('thread', { conversationId: conv, rootId: root });
      assert.equal(thread.root.thread?.replyCount, 3);
      assert.ok(!JSON.stringify(thread).includes('secret'));
      assert.equal(thread.messages.find((m) => m.id === r2.messageId)?.replyTo?.deleted, true);
    });
  });
}
