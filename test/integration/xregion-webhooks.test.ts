/**
 * Webhooks across two regions on real services (NATS supercluster with a JetStream webhook queue
 * per region, Redis, Cassandra): each event is emitted by one region only. A message sent in
 * us-east is reported `message.created` once (by us-east) and `message.offline` once for an
 * offline recipient whose home is eu-west (by eu-west, when it applies the replicated message);
 * a recipient who muted the conversation through us-east gets none (the mute replicated to their
 * home region); the sender never does. An erasure is reported `user.erased` by each region.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WEBHOOK_EVENT_TYPES } from '../../src/webhooks/event-types.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTwoRegions, TWO_REGIONS, type TwoRegions } from '../helpers/two-regions.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

const SECRET = 'xregion-webhook-secret-01';
const tag = randomBytes(3).toString('hex');
const alice = `alice${tag}`;
const bob = `bob${tag}`;
const carol = `carol${tag}`;

describe('webhooks across regions', () => {
  let regions: TwoRegions;
  let receiver: WebhookReceiver;

  before(async () => {
    receiver = await startWebhookReceiver(SECRET);
    regions = await startTwoRegions({
      keyspacePrefix: 'chat_wh',
      pins: { [alice]: 'us-east', [bob]: 'eu-west', [carol]: 'eu-west' },
      config: {
        webhooks: {
          endpoints: [{ name: 'app', url: receiver.url, secret: SECRET, events: [...WEBHOOK_EVENT_TYPES] }],
          baseBackoffMs: 50,
          maxBackoffMs: 500,
        },
      },
    });
  });

  after(async () => {
    await regions?.close();
    await receiver?.close();
  });

  it('emits each event once: created by the origin, offline by the home region, none when muted', async () => {
    const a = await regions.open('us-east', alice);
    const group = (await a.call('createGroup', { title: 'hooks', members: [bob, carol] })).conversation.id;
    // Carol mutes through us-east; her home region (eu-west) must learn it through replication.
    const c = await regions.open('us-east', carol);
    assert.deepEqual(await c.call('mute', { conversationId: group }), { conversationId: group, muted: true });
    await c.close();
    const euStore = regions.gateways.get('eu-west')!.deps.storage;
    await eventually(async () => assert.equal(await euStore.mutes.isMuted(carol, group), true), {
      timeoutMs: 20_000,
    });
    await eventually(() => assert.equal(regions.gateways.get('us-east')!.hub.hasLocal(carol), false));

    const { messageId } = await a.call('send', { conversationId: group, body: 'hello from us-east' });
    const about = (type: string) =>
      receiver.delivered().filter((d) => {
        if (d.event.type !== type) return false;
        const data = d.event.data as { message?: { messageId: string } };
        return data.message?.messageId === messageId;
      });
    await eventually(
      () => {
        assert.equal(about('message.created').length, 1);
        assert.equal(about('message.offline').length, 1);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // Both regions' queues empty: nothing more is on its way.
    await eventually(
      async () => {
        for (const r of TWO_REGIONS)
          assert.equal(await regions.gateways.get(r)!.deps.webhooks!.queue.depth(), 0);
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(about('message.created').length, 1, 'created once (not again by eu-west)');
    const offline = about('message.offline');
    assert.deepEqual(
      offline.map((d) => (d.event.data as { userId: string }).userId),
      [bob],
      'offline for bob only: not the sender, not carol who muted, not again by us-east',
    );
    const created = receiver
      .delivered()
      .filter((d) => d.event.type === 'conversation.created' && d.event.data.conversation.id === group);
    assert.equal(created.length, 1, 'conversation.created once');
    assert.ok(receiver.deliveries.every((d) => d.verified));
    await a.close();
  });

  it('reports user.erased once per region, each with what that region removed', async () => {
    const dave = `dave${tag}`;
    const d = await regions.open('us-east', dave);
    const conv = `dm:${bob}:${dave}`;
    const { messageId } = await d.call('send', { conversationId: conv, body: 'erase me' });
    await d.close();
    // Erasing before eu-west has the message would find nothing there (docs/operations.md).
    const euStore = regions.gateways.get('eu-west')!.deps.storage;
    await eventually(async () => assert.ok(await euStore.getMessage(conv, BigInt(messageId))), {
      timeoutMs: 20_000,
    });
    const { requestId } = await regions.gateways.get('us-east')!.erasure.request(dave);
    const erased = () =>
      receiver
        .delivered()
        .filter((e) => e.event.type === 'user.erased' && e.event.data.requestId === requestId)
        .map((e) => e.event.data as { region: string; userId: string; messages: number });
    await eventually(() => assert.equal(erased().length, 2), { timeoutMs: 30_000, intervalMs: 200 });
    assert.deepEqual(
      erased()
        .map((e) => ({ region: e.region, userId: e.userId, messages: e.messages }))
        .sort((x, y) => x.region.localeCompare(y.region)),
      [
        { region: 'eu-west', userId: dave, messages: 1 },
        { region: 'us-east', userId: dave, messages: 1 },
      ],
    );
  });
});
