/**
 * A gateway process SIGKILLed while messages are sent to an offline user: every acked message
 * produced exactly one distinct `message.offline` event id at the receiver (the same id delivered
 * again is allowed and counted apart), none was lost and none invented. The gateway runs as
 * production runs it (`node dist/main.js`), embedded (its webhook queue on LMDB), and restarts on
 * the same data directory; the sender resends what was not acked, as the SDK does.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from './helpers/eventually.ts';
import { token } from './helpers/gateway.ts';
import type { GatewayProcess } from './helpers/gateway-process.ts';
import { freePort } from './helpers/ports.ts';
import { embeddedGatewayConfig, sendAcrossKill } from './helpers/send-across-kill.ts';
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
    const start = await embeddedGatewayConfig(dir, await freePort(), {
      webhooks: {
        endpoints: [{ name: 'push', url: receiver.url, secret: SECRET, events: ['message.offline'] }],
        baseBackoffMs: 50,
        maxBackoffMs: 500,
        timeoutMs: 2000,
      },
    });
    gw = await start();
    const sent = await sendAcrossKill({
      gw,
      restart: start,
      token: await token('crashalice'),
      conversationId: CONV,
      before: KILL_AFTER,
      burst: BURST,
      after: MESSAGES - KILL_AFTER - BURST,
      idPrefix: 'crash-',
      body: (i) => `m${i}`,
    });
    gw = sent.gw;
    const { acked, ackedBeforeKill } = sent;
    const alice = sent.client;

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
