/**
 * A gateway process SIGKILLed while messages are sent to an offline user: every acked message
 * produced exactly one distinct `message.offline` event id at the receiver (the same id delivered
 * again is allowed and counted apart), none was lost and none invented. The gateway runs as
 * production runs it (`node dist/main.js`), embedded (its webhook queue on LMDB), and restarts on
 * the same data directory; the sender resends what was not acked, as the SDK does.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { TEST_SECRET, token } from './helpers/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from './helpers/gateway-process.ts';
import { freePort } from './helpers/ports.ts';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.ts';

const SECRET = 'crash-webhook-secret-0123';
const MESSAGES = 160;
const KILL_AFTER = 20;
const BURST = 100;
const CONV = 'dm:crashalice:crashbob';

describe('webhooks across a gateway crash', () => {
  let dir: string;
  let receiver: WebhookReceiver;
  let gw: GatewayProcess | null = null;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chat-webhook-crash-'));
    receiver = await startWebhookReceiver(SECRET);
  });
  after(async () => {
    await gw?.kill('SIGKILL');
    await receiver?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('every acked message has exactly one distinct message.offline event id', async () => {
    const port = await freePort();
    const configFile = join(dir, 'regions.yaml');
    // YAML is a superset of JSON.
    await writeFile(
      configFile,
      JSON.stringify({
        regions: [{ name: 'solo', id: 1, gateway: { host: '127.0.0.1', port }, dataDir: join(dir, 'data') }],
        auth: { secret: TEST_SECRET },
        log: { level: 'warn' },
        webhooks: {
          endpoints: [{ name: 'push', url: receiver.url, secret: SECRET, events: ['message.offline'] }],
          baseBackoffMs: 50,
          maxBackoffMs: 500,
          timeoutMs: 2000,
        },
      }),
    );
    const start = () => startGatewayProcess({ configFile, region: 'solo', port, workerId: 1, dir });
    gw = await start();
    const aliceToken = await token('crashalice');
    let alice = await TestClient.connect(gw.url, aliceToken);
    await alice.waitFor((f) => f.op === 'synced');

    const acked = new Map<string, string>(); // clientMsgId → messageId
    const sendAcked = async (i: number, attempt: number) => {
      const clientMsgId = `crash-${i}`;
      const reply = await alice.request('send', {
        conversationId: CONV,
        body: `m${i}`,
        clientMsgId,
        attempt,
      });
      assert.equal(reply.op, 'sent', `send ${clientMsgId} answered ${JSON.stringify(reply)}`);
      acked.set(clientMsgId, String(reply.messageId));
    };
    for (let i = 0; i < KILL_AFTER; i++) await sendAcked(i, 1);
    // A burst in flight, and the process killed as soon as the first of it is acked: some of the
    // burst are acked, some stored and not acked, some never read.
    for (let i = KILL_AFTER; i < KILL_AFTER + BURST; i++) {
      alice.sendRaw(
        JSON.stringify({
          op: 'send',
          id: `b${i}`,
          conversationId: CONV,
          body: `m${i}`,
          clientMsgId: `crash-${i}`,
        }),
      );
    }
    await alice.waitFor((f) => f.op === 'sent' && f.id === `b${KILL_AFTER}`);
    await gw.kill('SIGKILL');
    for (const f of alice.frames) {
      if (f.op === 'sent' && typeof f.id === 'string' && f.id.startsWith('b')) {
        acked.set(`crash-${f.id.slice(1)}`, String(f.messageId));
      }
    }
    const ackedBeforeKill = acked.size;
    gw = await start();
    alice = await TestClient.connect(gw.url, aliceToken);
    await alice.waitFor((f) => f.op === 'synced');
    // The SDK's resend: everything not acked goes again under its clientMsgId.
    for (let i = KILL_AFTER; i < MESSAGES; i++) {
      if (!acked.has(`crash-${i}`)) await sendAcked(i, i < KILL_AFTER + BURST ? 2 : 1);
    }
    assert.equal(acked.size, MESSAGES);

    const offlineFor = (messageId: string) =>
      receiver
        .delivered()
        .filter(
          (d) =>
            d.event.type === 'message.offline' &&
            d.event.data.message.messageId === messageId &&
            d.event.data.userId === 'crashbob',
        );
    await eventually(
      () => {
        for (const messageId of acked.values())
          assert.ok(offlineFor(messageId).length > 0, `no event for ${messageId}`);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    let repeats = 0;
    assert.ok(ackedBeforeKill > KILL_AFTER, 'part of the burst was acked before the kill');
    for (const [clientMsgId, messageId] of acked) {
      const ids = new Set(offlineFor(messageId).map((d) => d.id));
      assert.equal(ids.size, 1, `${clientMsgId} (${messageId}): ${ids.size} distinct event ids`);
      repeats += offlineFor(messageId).length - 1;
    }
    // None invented: every event is for an acked message, for the recipient, never the sender.
    const ackedIds = new Set(acked.values());
    for (const d of receiver.delivered()) {
      assert.equal(d.event.type, 'message.offline');
      if (d.event.type !== 'message.offline') continue;
      assert.equal(d.event.data.userId, 'crashbob');
      assert.ok(
        ackedIds.has(d.event.data.message.messageId),
        `event for unacked ${d.event.data.message.messageId}`,
      );
    }
    assert.ok(receiver.deliveries.every((d) => d.verified));
    // Redeliveries of one event id (allowed at-least-once) are reported, not failed.
    console.log(
      `webhook crash test: ${acked.size} acked (${ackedBeforeKill} before the kill), ${repeats} repeated deliveries of an event id`,
    );
    await alice.close();
  });
});
