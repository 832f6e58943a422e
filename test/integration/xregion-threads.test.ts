/**
 * Replies and threads across two regions on a real NATS supercluster, a Redis per region and
 * Cassandra (a keyspace per region): a reply made in eu-west reaches us-east live with its quote
 * and its root's count; replies made at once in both regions (each sent twice, as a resend)
 * converge on the same count and the same thread in both regions; an eu-west member who was
 * offline catches up to the final count; a deleted parent's body is quoted nowhere and stored
 * nowhere in either region.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WireMessage } from '../../src/protocol/index.ts';
import type { Frame } from '../helpers/client.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTwoRegions, TWO_REGIONS, type TwoRegion, type TwoRegions } from '../helpers/two-regions.ts';

const tag = randomBytes(3).toString('hex');
const alice = `alice${tag}`;
const bob = `bob${tag}`;
const carol = `carol${tag}`;

const isMessage = (id: string) => (f: Frame) => f.op === 'message' && (f.message as WireMessage).id === id;

describe('replies and threads across regions', () => {
  let regions: TwoRegions;
  const open = (region: TwoRegion, user: string, opts: { device?: string } = {}) =>
    regions.open(region, user, opts);
  const bodiesIn = (region: TwoRegion) => regions.bodiesIn(region);

  before(async () => {
    regions = await startTwoRegions({
      keyspacePrefix: 'chat_t',
      pins: { [alice]: 'us-east', [bob]: 'eu-west', [carol]: 'eu-west' },
    });
  });

  after(async () => {
    await regions.close();
  });

  it('replies travel live with quote and count; concurrent replies converge on one count', async () => {
    const a = await open('us-east', alice);
    const b = await open('eu-west', bob);
    const group = (await a.call('createGroup', { title: 'threads', members: [bob, carol] })).conversation.id;
    await b.waitFor(
      (f) => f.op === 'conversation' && (f.conversation as { id: string }).id === group,
      20_000,
    );
    const { messageId: root } = await a.call('send', { conversationId: group, body: 'where to meet?' });
    await b.waitFor(isMessage(root), 20_000);

    const first = await b.call('send', {
      conversationId: group,
      body: 'top secret place',
      replyTo: root,
      clientMsgId: 'r-first',
    });
    const live = (await a.waitFor(isMessage(first.messageId), 20_000)).message as WireMessage;
    assert.deepEqual(live.replyTo, { id: root, senderId: alice, preview: 'where to meet?', deleted: false });
    assert.equal(live.threadRoot, root);
    assert.equal(live.rootThread?.replyCount, 1);

    // Three replies from each region at once, each sent twice (a resend with its clientMsgId):
    // every region counts each once. One in us-east replies to eu-west's reply.
    const sends = [];
    for (let i = 0; i < 3; i++) {
      for (const [c, region] of [
        [a, 'us'],
        [b, 'eu'],
      ] as const) {
        const fields = {
          conversationId: group,
          body: `${region} ${i}`,
          replyTo: i === 0 && region === 'us' ? first.messageId : root,
          clientMsgId: `r-${region}-${i}`,
        };
        sends.push(c.call('send', fields).then(() => c.call('send', { ...fields, attempt: 2 })));
      }
    }
    await Promise.all(sends);
    const threads = new Map<TwoRegion, string[]>();
    for (const region of TWO_REGIONS) {
      const reader = region === 'us-east' ? a : b;
      await eventually(
        async () => {
          const page = await reader.call('thread', { conversationId: group, rootId: root, limit: 50 });
          assert.equal(page.root.thread?.replyCount, 7, region);
          assert.equal(page.messages.length, 7, region);
          threads.set(
            region,
            page.messages.map((m) => m.id),
          );
        },
        { timeoutMs: 20_000 },
      );
    }
    assert.deepEqual(threads.get('us-east'), threads.get('eu-west'));
    const newest = threads.get('us-east')![0]!;
    for (const region of TWO_REGIONS) {
      const rs = await regions.cql.execute(
        `SELECT thread_count, thread_last FROM ${regions.keyspaces[region]}.messages WHERE conversation_id = ? ALLOW FILTERING`,
        [group],
        { prepare: true },
      );
      const counted = rs.rows.filter((r) => r.get('thread_count') !== null);
      assert.deepEqual(
        counted.map((r) => [Number(r.get('thread_count')), String(r.get('thread_last'))]),
        [[7, newest]],
        region,
      );
    }

    // carol (homed in eu-west) was offline throughout. The parent of a reply is deleted in
    // eu-west; us-east's copies quote it with no text, and nothing of it is stored anywhere.
    await b.call('delete', { conversationId: group, messageId: first.messageId });
    for (const region of TWO_REGIONS) {
      const reader = region === 'us-east' ? a : b;
      await eventually(
        async () => {
          const page = await reader.call('thread', { conversationId: group, rootId: root, limit: 50 });
          assert.ok(!JSON.stringify(page).includes('secret'), region);
          const quoting = page.messages.filter((m) => m.replyTo?.id === first.messageId);
          assert.equal(quoting.length, 1, region);
          assert.deepEqual(quoting[0]?.replyTo, {
            id: first.messageId,
            senderId: bob,
            preview: '',
            deleted: true,
          });
          assert.ok(!(await bodiesIn(region)).some((x) => x.includes('secret')), region);
        },
        { timeoutMs: 20_000 },
      );
    }
    const c = await open('eu-west', carol);
    assert.ok(!JSON.stringify(c.frames).includes('secret'), JSON.stringify(c.frames));
    const counts = c.frames
      .filter((f) => f.op === 'message')
      .map((f) => (f.message as WireMessage).rootThread?.replyCount ?? 0);
    assert.equal(Math.max(...counts), 7);
  });
});
