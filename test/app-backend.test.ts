/**
 * The server API and webhooks as an app backend uses them (test/helpers/app-backend.ts: HTTP with
 * an API key, a receiver verifying every signature), against a gateway running as production runs
 * it (`node dist/main.js`, embedded store) that is SIGKILLed mid-burst and restarted. The backend
 * creates a group (idempotently), posts a system message, and counts `message.offline` events:
 * every acked message yields exactly one distinct event id per offline, unmuted recipient — none
 * lost across the crash, none invented (not for the sender, a connected member, a muted
 * conversation, or a message never acked).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppBackend } from './helpers/app-backend.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { token } from './helpers/gateway.ts';
import type { GatewayProcess } from './helpers/gateway-process.ts';
import { freePort } from './helpers/ports.ts';
import { embeddedGatewayConfig, sendAcrossKill } from './helpers/send-across-kill.ts';

const API_KEY = 'app-backend-key-0123456789abcdef';
const HOOK_SECRET = 'app-backend-webhook-secret';
const [alice, bob, carol] = ['appalice', 'appbob', 'appcarol'];
const BEFORE_KILL = 15;
const BURST = 60;

describe('an app backend on the server API and webhooks, across a gateway SIGKILL', () => {
  let dir: string;
  let backend: AppBackend;
  let gw: GatewayProcess | null = null;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chat-app-backend-'));
    backend = await AppBackend.start({ apiKey: API_KEY, webhookSecret: HOOK_SECRET });
  });
  after(async () => {
    await gw?.kill('SIGKILL');
    await backend?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a group, posts a system message, and counts offline-recipient events with none lost or invented', async () => {
    const start = await embeddedGatewayConfig(dir, await freePort(), {
      api: { keys: { backend: API_KEY } },
      webhooks: {
        endpoints: [
          {
            name: 'app',
            url: backend.hooks.url,
            secret: HOOK_SECRET,
            events: ['message.created', 'message.offline', 'conversation.created'],
          },
        ],
        baseBackoffMs: 50,
        maxBackoffMs: 500,
        timeoutMs: 2000,
      },
    });
    gw = await start();
    const api = backend.at(gw.httpUrl);

    // The group, created twice under one idempotency key: one group.
    const { conversation } = await api.createGroup('launch', [alice, bob, carol], 'launch-group');
    const again = await api.createGroup('launch', [alice, bob, carol], 'launch-group');
    assert.equal(again.conversation.id, conversation.id);
    const conv = conversation.id;

    // carol mutes the group, then goes offline; bob is offline throughout.
    const c = await TestClient.connect(gw.url, await token(carol));
    await c.waitFor((f) => f.op === 'synced');
    await c.call('mute', { conversationId: conv });
    await c.close();
    // alice, who sends everything but the system message, is connected when it is posted.
    const early = await TestClient.connect(gw.url, await token(alice));
    await early.waitFor((f) => f.op === 'synced');
    const welcome = await api.post(conv, '$system', 'Welcome to the launch group', 'welcome-1');
    assert.equal(
      (await api.post(conv, '$system', 'Welcome to the launch group', 'welcome-1')).duplicate,
      true,
    );
    const acked = new Map<string, string>([['welcome', welcome.messageId]]);
    await early.close();

    // alice sends while the gateway is killed mid-burst and restarted (she resends as the SDK does).
    const sent = await sendAcrossKill({
      gw,
      restart: start,
      token: await token(alice),
      conversationId: conv,
      before: BEFORE_KILL,
      burst: BURST,
      idPrefix: 'u-',
      body: (i) => `update ${i}`,
    });
    gw = sent.gw;
    for (const [k, v] of sent.acked) acked.set(k, v);
    assert.equal(acked.size, 1 + BEFORE_KILL + BURST);

    const ackedIds = new Set(acked.values());
    const offlineFor = (messageId: string) =>
      backend.events('message.offline').filter((d) => d.event.data.message.messageId === messageId);
    await eventually(
      () => {
        for (const id of ackedIds) assert.ok(offlineFor(id).length > 0, `no message.offline for ${id}`);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    let repeats = 0;
    for (const id of ackedIds) {
      const events = offlineFor(id);
      // Exactly one distinct event id per message, for bob only: alice sent or was connected,
      // carol muted the group.
      assert.deepEqual([...new Set(events.map((d) => d.event.data.userId))], [bob], id);
      assert.equal(new Set(events.map((d) => d.id)).size, 1, `${id}: distinct event ids`);
      repeats += events.length - 1;
    }
    for (const d of backend.events('message.offline'))
      assert.ok(
        ackedIds.has(d.event.data.message.messageId),
        `event for a message never acked: ${d.event.data.message.messageId}`,
      );

    // The system message and the group's creation came as signed events too.
    await eventually(() => {
      const created = backend
        .events('message.created')
        .find((d) => d.event.data.message.messageId === welcome.messageId);
      assert.equal(created?.event.data.message.senderId, '$system');
      assert.equal(
        backend.events('conversation.created').filter((d) => d.event.data.conversation.id === conv).length >=
          1,
        true,
      );
    });
    assert.ok(
      backend.hooks.deliveries.every((d) => d.verified),
      'every delivery carried a valid signature',
    );
    console.log(
      `app backend: ${ackedIds.size} acked messages, ${repeats} repeated deliveries of an event id`,
    );
    await sent.client.close();
  });
});
