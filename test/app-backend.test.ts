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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppBackend } from './helpers/app-backend.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { TEST_SECRET, token } from './helpers/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.ts';
import { freePort } from './helpers/ports.ts';

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
    const port = await freePort();
    const configFile = join(dir, 'regions.yaml');
    await writeFile(
      configFile,
      JSON.stringify({
        regions: [{ name: 'solo', id: 1, gateway: { host: '127.0.0.1', port }, dataDir: join(dir, 'data') }],
        auth: { secret: TEST_SECRET },
        log: { level: 'warn' },
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
      }),
    );
    const start = () => startGatewayProcess({ configFile, region: 'solo', port, workerId: 1, dir });
    gw = await start();
    let api = backend.at(gw.httpUrl);

    // The group, created twice under one idempotency key: one group.
    const { conversation } = await api.createGroup('launch', [alice, bob, carol], 'launch-group');
    const again = await api.createGroup('launch', [alice, bob, carol], 'launch-group');
    assert.equal(again.conversation.id, conversation.id);
    const conv = conversation.id;

    // carol mutes the group, then goes offline; alice stays connected; bob is offline throughout.
    const c = await TestClient.connect(gw.url, await token(carol));
    await c.waitFor((f) => f.op === 'synced');
    await c.call('mute', { conversationId: conv });
    await c.close();
    const aliceToken = await token(alice);
    let a = await TestClient.connect(gw.url, aliceToken);
    await a.waitFor((f) => f.op === 'synced');

    const welcome = await api.post(conv, '$system', 'Welcome to the launch group', 'welcome-1');
    assert.equal(
      (await api.post(conv, '$system', 'Welcome to the launch group', 'welcome-1')).duplicate,
      true,
    );
    const acked = new Map<string, string>([['welcome', welcome.messageId]]);

    const sendAcked = async (i: number) => {
      const reply = await a.request('send', {
        conversationId: conv,
        body: `update ${i}`,
        clientMsgId: `u-${i}`,
      });
      assert.equal(reply.op, 'sent', JSON.stringify(reply));
      acked.set(`u-${i}`, String(reply.messageId));
    };
    for (let i = 0; i < BEFORE_KILL; i++) await sendAcked(i);
    // A burst in flight; the process is killed as soon as the first of it is acked.
    for (let i = BEFORE_KILL; i < BEFORE_KILL + BURST; i++) {
      a.sendRaw(
        JSON.stringify({
          op: 'send',
          id: `b${i}`,
          conversationId: conv,
          body: `update ${i}`,
          clientMsgId: `u-${i}`,
        }),
      );
    }
    await a.waitFor((f) => f.op === 'sent' && f.id === `b${BEFORE_KILL}`);
    await gw.kill('SIGKILL');
    for (const f of a.frames)
      if (f.op === 'sent' && typeof f.id === 'string' && f.id.startsWith('b'))
        acked.set(`u-${f.id.slice(1)}`, String(f.messageId));
    gw = await start();
    api = backend.at(gw.httpUrl);
    a = await TestClient.connect(gw.url, aliceToken);
    await a.waitFor((f) => f.op === 'synced');
    // What was not acked is sent again under its clientMsgId, as the SDK does.
    for (let i = BEFORE_KILL; i < BEFORE_KILL + BURST; i++) if (!acked.has(`u-${i}`)) await sendAcked(i);
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
    await a.close();
  });
});
