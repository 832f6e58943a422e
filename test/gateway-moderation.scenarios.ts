/**
 * Moderation end to end, over the raw protocol and Socket.IO, against the same gateway setups as
 * `gateway.scenarios.ts` (embedded, and gateways on real Cassandra + Redis + NATS): roles given
 * by the owner and seen by members, admins removing members and deleting others' messages, bans
 * that keep a user out until unbanned, blocks that stop a DM, and forbidden actions answered with
 * typed errors on a connection that stays usable. Users are spread over the setup's gateways, so
 * with two gateways every check runs on a gateway other than the one that made the change.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WireConversation, WireMessage } from '../src/protocol/index.ts';
import type { ScenarioEnv } from './gateway.scenarios.ts';
import type { Frame } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { scenarioClients, scenarioUser } from './helpers/scenario-clients.ts';

const user = scenarioUser;

const conversationEvent = (id: string, event: string) => (f: Frame) =>
  f.op === 'conversation' && (f.conversation as WireConversation).id === id && f.event === event;

export function moderationScenarios(name: string, setup: () => Promise<ScenarioEnv>): void {
  describe(`moderation: ${name}`, () => {
    let env: ScenarioEnv;
    const { open, openIo, closeAll } = scenarioClients(() => env);

    before(async () => {
      env = await setup();
    });
    after(async () => {
      await closeAll();
      await env.stop();
    });

    it('the owner makes an admin; members see it; an admin removes a member and deletes their message', async () => {
      const [owner, admin, carol, dan] = [user('own'), user('adm'), user('carol'), user('dan')];
      const o = await open(0, owner);
      const a = await openIo(1, admin);
      const c = await open(1, carol);
      const d = await open(0, dan);
      const created = await o.call('createGroup', { title: 'mods', members: [admin, carol, dan] });
      const conv = created.conversation.id;
      assert.deepEqual(created.conversation.admins, []);
      assert.equal(created.conversation.createdBy, owner);

      // A member cannot give roles, remove others or delete others' messages: typed errors.
      const denied = await c.request('setRole', { conversationId: conv, userId: dan, role: 'admin' });
      assert.equal(denied.code, 'forbidden');
      assert.equal(
        (await c.request('removeMembers', { conversationId: conv, userIds: [dan] })).code,
        'forbidden',
      );

      const set = await o.call('setRole', { conversationId: conv, userId: admin, role: 'admin' });
      assert.deepEqual(set.conversation.admins, [admin]);
      const seen = await d.waitFor(conversationEvent(conv, 'roles_changed'));
      assert.deepEqual((seen.conversation as WireConversation).admins, [admin]);
      await a.waitFor(conversationEvent(conv, 'roles_changed'));

      // The admin deletes carol's message; everyone sees who did it.
      const sent = await c.call('send', { conversationId: conv, body: 'spam spam', clientMsgId: 'c1' });
      const deleted = await a.call('delete', { conversationId: conv, messageId: sent.messageId });
      assert.equal(deleted.message.state?.deleted, true);
      assert.equal(deleted.message.body, '');
      const update = await d.waitFor(
        (f) => f.op === 'update' && (f.message as WireMessage).id === sent.messageId,
      );
      assert.equal(update.by, admin);
      assert.equal(update.kind, 'delete');
      // Edits stay the sender's own, whatever the role.
      const edit = await a.request('edit', { conversationId: conv, messageId: sent.messageId, body: 'x' });
      assert.ok(edit.code === 'forbidden' || edit.code === 'message_deleted');

      // The admin removes dan, and cannot remove the owner.
      const removed = await a.call('removeMembers', { conversationId: conv, userIds: [dan] });
      assert.deepEqual(removed.conversation.members, [admin, carol, owner].sort());
      await d.waitFor(conversationEvent(conv, 'members_removed'));
      assert.equal(
        (await a.request('removeMembers', { conversationId: conv, userIds: [owner] })).code,
        'forbidden',
      );
      assert.equal((await a.request('ban', { conversationId: conv, userId: owner })).code, 'forbidden');

      // Demoted, the admin is a member again and may no longer remove anyone.
      const demoted = await o.call('setRole', { conversationId: conv, userId: admin, role: 'member' });
      assert.deepEqual(demoted.conversation.admins, []);
      await eventually(async () => {
        const r = await a.request('removeMembers', { conversationId: conv, userIds: [carol] });
        assert.equal(r.code, 'forbidden');
      });
      // Every refused connection is still usable.
      for (const client of [a, c]) assert.equal((await client.request('ping')).op, 'pong');
    });

    it('a ban removes the user and keeps them out until unbanned', async () => {
      const [owner, eve, bob] = [user('own'), user('eve'), user('bob')];
      const o = await open(0, owner);
      const e = await open(1, eve);
      const b = await openIo(1, bob);
      const conv = (await o.call('createGroup', { title: 'bans', members: [eve, bob] })).conversation.id;
      await o.call('setRole', { conversationId: conv, userId: bob, role: 'admin' });

      const banned = await b.call('ban', { conversationId: conv, userId: eve });
      assert.deepEqual(banned.banned, [eve]);
      assert.ok(!banned.conversation.members.includes(eve));
      await e.waitFor(conversationEvent(conv, 'members_removed'));
      // Out: eve can no longer send or read; nobody can add her back.
      assert.equal((await e.request('send', { conversationId: conv, body: 'let me in' })).code, 'not_found');
      const readd = await o.request('addMembers', { conversationId: conv, userIds: [eve] });
      assert.equal(readd.code, 'banned');
      assert.equal((readd.details as { userId: string }).userId, eve);
      // Only admins and the owner unban.
      assert.equal((await e.request('unban', { conversationId: conv, userId: eve })).code, 'not_found');

      const unbanned = await b.call('unban', { conversationId: conv, userId: eve });
      assert.deepEqual(unbanned.banned, []);
      await eventually(async () => {
        const added = await o.call('addMembers', { conversationId: conv, userIds: [eve] });
        assert.ok(added.conversation.members.includes(eve));
      });
      // Her gateway learns of it (its cached members dropped) before her `members_added` frame.
      await e.waitFor(conversationEvent(conv, 'members_added'));
      await e.call('send', { conversationId: conv, body: 'back' });
    });

    it('a block stops the blocked user sending in the DM and opening a new one, until unblocked', async () => {
      const [alice, mallory, zed] = [user('alice'), user('mal'), user('zed')];
      const a = await open(0, alice);
      const m = await open(1, mallory);
      const mio = await openIo(0, mallory);
      const z = await open(1, zed);
      const dm = [alice, mallory].sort().join(':');
      const conv = `dm:${dm}`;
      const hi = await m.call('send', { conversationId: conv, body: 'hi' });
      await m.call('react', { conversationId: conv, messageId: hi.messageId, emoji: '👋' });

      const blocked = await a.call('block', { userId: mallory });
      assert.deepEqual(blocked.blocked, [mallory]);
      assert.deepEqual((await a.call('listBlocks')).blocked, [mallory]);
      // Blocked: both transports, both gateways; the connection stays usable.
      for (const c of [m, mio]) {
        const r = await c.request('send', { conversationId: conv, body: 'hello?' });
        assert.equal(r.code, 'blocked');
        assert.equal((await c.request('ping')).op, 'pong');
      }
      // Nor edit, nor react; taking a reaction back still works (and deleting, below).
      const own = { conversationId: conv, messageId: hi.messageId };
      assert.equal((await m.request('edit', { ...own, body: 'hi!' })).code, 'blocked');
      assert.equal((await m.request('react', { ...own, emoji: '🙂' })).code, 'blocked');
      await m.call('unreact', { ...own, emoji: '👋' });
      // The blocker still writes; the blocked still reads the existing DM.
      await a.call('send', { conversationId: conv, body: 'bye' });
      const history = await m.call('history', { conversationId: conv });
      assert.equal(history.messages.length, 2);
      await m.call('delete', own);
      // A new DM with someone who blocks you cannot be opened; zed blocked by nobody is fine.
      await z.call('block', { userId: mallory });
      assert.equal((await m.request('openDirect', { userId: zed })).code, 'blocked');
      await m.call('openDirect', { userId: alice });
      assert.equal((await a.request('block', { userId: alice })).code, 'invalid_field');

      const unblocked = await a.call('unblock', { userId: mallory });
      assert.deepEqual(unblocked.blocked, []);
      await eventually(async () => {
        await m.call('send', { conversationId: conv, body: 'thanks' });
      });
    });
  });
}
