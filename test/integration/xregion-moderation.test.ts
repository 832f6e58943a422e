/**
 * Moderation across two regions on a real NATS supercluster, a Redis per region and Cassandra (a
 * keyspace per region): a role, a ban and a block made in us-east are enforced in eu-west, by
 * gateways that had the group and the blocker's list cached before the change; an unblock made
 * in eu-west is seen in us-east.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WireConversation } from '../../src/protocol/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTwoRegions, type TwoRegions } from '../helpers/two-regions.ts';

const tag = randomBytes(3).toString('hex');
const owner = `owner${tag}`;
const bob = `bob${tag}`;
const eve = `eve${tag}`;
const mallory = `mal${tag}`;

describe('moderation across regions', () => {
  let regions: TwoRegions;

  before(async () => {
    regions = await startTwoRegions({
      keyspacePrefix: 'chat_mod',
      pins: { [owner]: 'us-east', [bob]: 'eu-west', [eve]: 'eu-west', [mallory]: 'eu-west' },
    });
  });

  after(async () => {
    await regions.close();
  });

  it('a role and a ban made in us-east are enforced in eu-west', async () => {
    const o = await regions.open('us-east', owner);
    const b = await regions.open('eu-west', bob);
    const e = await regions.open('eu-west', eve);
    const group = (await o.call('createGroup', { title: 'xmod', members: [bob, eve] })).conversation.id;
    // eve writes in eu-west first: eu-west's gateway has the group cached before the ban.
    await eventually(() => e.call('send', { conversationId: group, body: 'hello' }), { timeoutMs: 20_000 });

    await o.call('setRole', { conversationId: group, userId: bob, role: 'admin' });
    const roles = await b.waitFor((f) => f.op === 'conversation' && f.event === 'roles_changed', 20_000);
    assert.deepEqual((roles.conversation as WireConversation).admins, [bob]);

    await o.call('ban', { conversationId: group, userId: eve });
    await eventually(
      async () => {
        const r = await e.request('send', { conversationId: group, body: 'still here?' });
        assert.equal(r.code, 'not_found');
      },
      { timeoutMs: 20_000 },
    );
    // eu-west refuses to add her back, and its admin (bob) may unban there.
    await eventually(
      async () => {
        const r = await b.request('addMembers', { conversationId: group, userIds: [eve] });
        assert.equal(r.code, 'banned');
      },
      { timeoutMs: 20_000 },
    );
    const unbanned = await b.call('unban', { conversationId: group, userId: eve });
    assert.deepEqual(unbanned.banned, []);
    // The unban reaches us-east: the owner may add her back there.
    await eventually(
      async () => {
        const added = await o.call('addMembers', { conversationId: group, userIds: [eve] });
        assert.ok(added.conversation.members.includes(eve));
      },
      { timeoutMs: 20_000 },
    );
  });

  it('a block made in us-east stops the blocked user in eu-west; an unblock in eu-west frees them in us-east', async () => {
    const o = await regions.open('us-east', owner);
    const m = await regions.open('eu-west', mallory);
    const conv = `dm:${[owner, mallory].sort().join(':')}`;
    await m.call('send', { conversationId: conv, body: 'hi' });

    await o.call('block', { userId: mallory });
    await eventually(
      async () => {
        const r = await m.request('send', { conversationId: conv, body: 'hi again' });
        assert.equal(r.code, 'blocked');
      },
      { timeoutMs: 20_000 },
    );
    assert.equal((await m.request('ping')).op, 'pong');

    // The owner, connected in eu-west now, lists and lifts the block there.
    const o2 = await regions.open('eu-west', owner, { device: 'laptop' });
    await eventually(async () => assert.deepEqual((await o2.call('listBlocks')).blocked, [mallory]), {
      timeoutMs: 20_000,
    });
    await o2.call('unblock', { userId: mallory });
    const m2 = await regions.open('us-east', mallory, { device: 'phone' });
    await eventually(() => m2.call('send', { conversationId: conv, body: 'thanks' }), { timeoutMs: 20_000 });
  });
});
