/**
 * Edit and delete end to end, over the raw protocol and Socket.IO, run against the same gateway
 * setups as `gateway.scenarios.ts` (embedded, and gateways on real Cassandra + Redis + NATS):
 * live `update` frames to the other devices, typed errors, an offline member who comes back to
 * the final state with no deleted body anywhere, a resume by position after an edit, and an
 * idempotent resend.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChangeResult, WireMessage } from '../src/protocol/index.ts';
import type { ScenarioEnv } from './gateway.scenarios.ts';
import type { Frame, TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { scenarioClients, scenarioUser } from './helpers/scenario-clients.ts';

const user = scenarioUser;

const isUpdate = (messageId: string) => (f: Frame) =>
  f.op === 'update' && (f.message as WireMessage).id === messageId;

/**
 * What a client shows for each message after reading `frames` as the protocol says: messages and
 * updates keyed by message id, the larger revision kept, a deleted state final.
 */
function finalState(frames: Frame[]): Map<string, WireMessage> {
  const shown = new Map<string, WireMessage>();
  for (const f of frames) {
    if (f.op !== 'message' && f.op !== 'update') continue;
    const m = f.message as WireMessage;
    const prev = shown.get(m.id);
    if (prev?.state?.deleted) continue;
    const newer =
      !prev ||
      m.state?.deleted ||
      (m.state && (!prev.state || BigInt(m.state.revision) > BigInt(prev.state.revision)));
    if (newer) shown.set(m.id, m);
  }
  return shown;
}

export function changeScenarios(name: string, setup: () => Promise<ScenarioEnv>): void {
  describe(`edit and delete: ${name}`, () => {
    let env: ScenarioEnv;
    const { open, openIo, closeAll } = scenarioClients(() => env);
    const group = async (owner: TestClient, members: string[]) =>
      (await owner.call('createGroup', { title: 'changes', members })).conversation.id;

    before(async () => {
      env = await setup();
    });
    after(async () => {
      await closeAll();
      await env.stop();
    });

    it('edits live to other devices on raw and Socket.IO; history shows the current state only', async () => {
      const [alice, bob, dan] = [user('alice'), user('bob'), user('dan')];
      const a1 = await open(0, alice, { device: 'phone' });
      const a2 = await open(1, alice, { device: 'laptop' });
      const b = await open(1, bob);
      const d = await openIo(0, dan);
      const conv = await group(a1, [bob, dan]);
      const sent = await a1.call('send', { conversationId: conv, body: 'helo', clientMsgId: 's1' });
      const id = sent.messageId;
      const edited = await a1.call('edit', {
        conversationId: conv,
        messageId: id,
        body: 'hello',
        clientMsgId: 'e1',
      });
      assert.equal(edited.duplicate, false);
      assert.equal(edited.message.body, 'hello');
      assert.equal(edited.message.state?.revision, edited.changeId);
      assert.equal(edited.message.state?.editCount, 1);
      assert.equal(edited.message.state?.deleted, false);
      for (const c of [a2, b, d]) {
        const f = await c.waitFor(isUpdate(id));
        assert.equal(f.kind, 'edit');
        assert.equal(f.changeId, edited.changeId);
        assert.equal(f.replay, false);
        assert.equal(typeof f.pos, 'string');
        assert.deepEqual(f.message, edited.message);
      }
      // The editing connection gets the reply, not a copy.
      assert.equal(a1.frames.filter((f) => f.op === 'update').length, 0);
      // Socket.IO edits too; a second edit counts 2.
      const byIo = await openIo(1, alice);
      const second = await byIo.call('edit', { conversationId: conv, messageId: id, body: 'hello!' });
      assert.equal(second.message.state?.editCount, 2);
      await d.waitFor((f) => isUpdate(id)(f) && (f.message as WireMessage).body === 'hello!');
      const page = await b.call('history', { conversationId: conv, limit: 10 });
      assert.deepEqual(
        page.messages.map((m) => [m.id, m.body, m.state?.editCount]),
        [[id, 'hello!', 2]],
        'one message, in its current state; change records are not history',
      );
      assert.equal(page.hasMore, false);
    });

    it('makes a resend of an edit idempotent: same change, answered duplicate, one edit counted', async () => {
      const [alice, bob] = [user('alice'), user('bob')];
      const a = await open(0, alice);
      const b = await open(1, bob);
      const conv = await group(a, [bob]);
      const { messageId } = await a.call('send', { conversationId: conv, body: 'v1' });
      const fields = { conversationId: conv, messageId, body: 'v2', clientMsgId: 'same-edit' };
      const first = await a.call('edit', fields);
      const again = await a.call('edit', { ...fields, attempt: 2 });
      assert.equal(again.duplicate, true);
      assert.equal(again.changeId, first.changeId);
      assert.deepEqual(again.message, first.message);
      await b.waitFor(isUpdate(messageId));
      const [row] = (await b.call('history', { conversationId: conv, limit: 5 })).messages;
      assert.equal(row?.state?.editCount, 1);
      assert.equal(row?.body, 'v2');
    });

    it('answers typed errors: not the sender, unknown message, not a member, deleted', async () => {
      const [alice, bob, eve] = [user('alice'), user('bob'), user('eve')];
      const a = await open(0, alice);
      const b = await open(1, bob);
      const e = await open(0, eve);
      const conv = await group(a, [bob]);
      const { messageId } = await a.call('send', { conversationId: conv, body: 'mine' });
      const code = async (c: TestClient, op: 'edit' | 'delete', fields: Record<string, unknown>) =>
        (await c.request(op, { conversationId: conv, body: 'x', ...fields })).code;
      assert.equal(await code(b, 'edit', { messageId }), 'forbidden');
      assert.equal(await code(b, 'delete', { messageId }), 'forbidden');
      assert.equal(await code(a, 'edit', { messageId: '12345' }), 'not_found');
      assert.equal(await code(e, 'delete', { messageId }), 'not_found');
      assert.equal(await code(a, 'edit', { messageId, body: '' }), 'invalid_field');
      const deleted = await a.call('delete', { conversationId: conv, messageId });
      assert.equal(deleted.message.state?.deleted, true);
      assert.equal(deleted.message.body, '');
      assert.equal(await code(a, 'edit', { messageId }), 'message_deleted');
      // Deleting again answers the tombstone.
      const again = (await a.call('delete', { conversationId: conv, messageId })) as ChangeResult;
      assert.equal(again.duplicate, true);
      assert.equal(again.changeId, deleted.changeId);
      // The connection is still usable.
      assert.equal((await a.request('ping')).op, 'pong');
    });

    it('brings an offline member back to the final state, with no deleted body anywhere', async () => {
      const [alice, carol] = [user('alice'), user('carol')];
      const a = await open(0, alice);
      const conv = await group(a, [carol]);
      const c0 = await open(1, carol);
      const { messageId: kept } = await a.call('send', { conversationId: conv, body: 'first draft' });
      await c0.waitFor((f) => f.op === 'message' && (f.message as WireMessage).id === kept);
      const lastPos = String(
        (await c0.waitFor((f) => f.op === 'message' && (f.message as WireMessage).id === kept)).pos,
      );
      await c0.close();
      await eventually(
        async () => {
          const p = await a.call('presence', { userIds: [carol] });
          assert.equal(p.users[0]?.status, 'offline');
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      const { messageId: gone } = await a.call('send', { conversationId: conv, body: 'secret words' });
      await a.call('edit', { conversationId: conv, messageId: kept, body: 'final draft' });
      await a.call('edit', { conversationId: conv, messageId: gone, body: 'more secret words' });
      await a.call('delete', { conversationId: conv, messageId: gone });

      // Back with the offline queue only, and (another device) with the position it held.
      for (const opts of [{}, { resume: lastPos }]) {
        const c = await open(1, carol, opts);
        const everything = JSON.stringify(c.frames);
        assert.ok(!everything.includes('secret'), `a deleted body reached the client: ${everything}`);
        const shown = finalState(c.frames);
        assert.equal(shown.get(kept)?.body, 'final draft');
        assert.equal(shown.get(kept)?.state?.editCount, 1);
        assert.equal(shown.get(gone)?.body, '');
        assert.equal(shown.get(gone)?.state?.deleted, true);
        assert.ok(c.frames.some((f) => f.op === 'update' && f.replay === true));
        await c.close();
      }
      const page = await a.call('history', { conversationId: conv, limit: 10 });
      assert.ok(!JSON.stringify(page).includes('secret'));
    });

    it('reactions: any member reacts, everyone sees counts and who, a limit on distinct emoji', async () => {
      const [alice, bob, dan] = [user('alice'), user('bob'), user('dan')];
      const a = await open(0, alice);
      const b = await open(1, bob);
      const d = await openIo(0, dan);
      const conv = await group(a, [bob, dan]);
      const { messageId } = await a.call('send', { conversationId: conv, body: 'react to me' });
      const byBob = await b.call('react', {
        conversationId: conv,
        messageId,
        emoji: '👍',
        clientMsgId: 'r1',
      });
      assert.deepEqual(byBob.message.reactions?.entries, [{ emoji: '👍', count: 1, users: [bob] }]);
      // Socket.IO reacts too; the resend of bob's reaction counts once.
      const byDan = await d.call('react', { conversationId: conv, messageId, emoji: '👍' });
      const again = await b.call('react', {
        conversationId: conv,
        messageId,
        emoji: '👍',
        clientMsgId: 'r1',
        attempt: 2,
      });
      assert.equal(again.duplicate, true);
      await a.waitFor(
        (f) =>
          f.op === 'update' &&
          f.kind === 'react' &&
          (f.message as WireMessage).reactions?.entries[0]?.count === 2,
      );
      assert.deepEqual(byDan.message.reactions?.entries, [
        { emoji: '👍', count: 2, users: [bob, dan].sort() },
      ]);
      const removed = await d.call('unreact', { conversationId: conv, messageId, emoji: '👍' });
      assert.deepEqual(removed.message.reactions?.entries, [{ emoji: '👍', count: 1, users: [bob] }]);
      const bad = await b.request('react', { conversationId: conv, messageId, emoji: 'two words' });
      assert.equal(bad.code, 'invalid_field');
      // The limit (20 distinct by default): the 21st distinct emoji is refused, an existing one is not.
      for (let i = 1; i < 20; i++) await b.call('react', { conversationId: conv, messageId, emoji: `e${i}` });
      assert.equal(
        (await a.request('react', { conversationId: conv, messageId, emoji: 'e20' })).code,
        'too_many_reactions',
      );
      const existing = await a.call('react', { conversationId: conv, messageId, emoji: 'e1' });
      assert.deepEqual(
        existing.message.reactions?.entries.find((e) => e.emoji === 'e1')?.users,
        [alice, bob].sort(),
      );
      // History shows them; a deleted message shows none and takes no more.
      const [row] = (await d.call('history', { conversationId: conv, limit: 1 })).messages;
      assert.equal(row?.reactions?.entries.length, 20);
      await a.call('delete', { conversationId: conv, messageId });
      const [gone] = (await d.call('history', { conversationId: conv, limit: 1 })).messages;
      assert.equal(gone?.reactions, undefined);
      assert.equal(
        (await b.request('react', { conversationId: conv, messageId, emoji: '👍' })).code,
        'message_deleted',
      );
    });

    it('resumes by position after an edit: the update is replayed with the new body', async () => {
      const [alice, bob] = [user('alice'), user('bob')];
      const a = await open(0, alice);
      const b = await open(1, bob);
      const conv = await group(a, [bob]);
      const { messageId } = await a.call('send', { conversationId: conv, body: 'before' });
      const live = await b.waitFor((f) => f.op === 'message' && (f.message as WireMessage).id === messageId);
      await b.close();
      await a.call('edit', { conversationId: conv, messageId, body: 'after' });
      const b2 = await open(0, bob, { resume: String(live.pos) });
      const replayed = await b2.waitFor(isUpdate(messageId));
      assert.equal(replayed.replay, true);
      assert.equal((replayed.message as WireMessage).body, 'after');
      assert.equal(finalState(b2.frames).get(messageId)?.body, 'after');
    });
  });
}
