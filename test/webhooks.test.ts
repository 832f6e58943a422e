/**
 * Webhooks end to end on an embedded gateway (LMDB queue) and a real HTTP receiver: signed
 * deliveries of every event type, `message.offline` only for offline, unmuted recipients, retries
 * after 500s, a dead letter after the last attempt and its replay through the server API's route.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiRequest, ApiRoute } from '../src/api/route.ts';
import { webhookRoutes } from '../src/api/routes/webhooks.ts';
import { ChatError } from '../src/errors.ts';
import { backoffMs } from '../src/webhooks/dispatcher.ts';
import { WEBHOOK_EVENT_TYPES } from '../src/webhooks/event-types.ts';
import { signWebhook, verifyWebhook } from '../src/webhooks/signature.ts';
import { API_KEY, api } from './api.scenarios.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';
import { sdkClient } from './helpers/sdk-clients.ts';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.ts';

const SECRET = 'webhook-secret-0123456789';
const ATTEMPTS = 4;

function request(params: Record<string, string> = {}, query = ''): ApiRequest<undefined> {
  return {
    params,
    query: new URLSearchParams(query),
    body: undefined,
    principal: { kind: 'api-key', id: 'ops' },
    idempotencyKey: null,
  };
}

describe('webhook signatures', () => {
  it('verifies the documented scheme and refuses a changed body, a wrong secret or an old timestamp', () => {
    const body = '{"id":"evt_1"}';
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'Webhook-Timestamp': String(ts), 'Webhook-Signature': signWebhook(SECRET, ts, body) };
    assert.equal(verifyWebhook({ secret: SECRET, body, headers }), true);
    assert.equal(verifyWebhook({ secret: SECRET, body: `${body} `, headers }), false);
    assert.equal(verifyWebhook({ secret: `${SECRET}x`, body, headers }), false);
    assert.equal(verifyWebhook({ secret: SECRET, body, headers, now: (ts + 301) * 1000 }), false);
    assert.equal(verifyWebhook({ secret: SECRET, body, headers: {} }), false);
  });

  it('backs off exponentially, capped, with jitter in [half, full]', () => {
    assert.equal(
      backoffMs(1, 100, 1000, () => 0),
      50,
    );
    assert.equal(
      backoffMs(1, 100, 1000, () => 1),
      100,
    );
    assert.equal(
      backoffMs(3, 100, 1000, () => 1),
      400,
    );
    assert.equal(
      backoffMs(10, 100, 1000, () => 1),
      1000,
    );
  });
});

describe('webhooks on an embedded gateway', () => {
  let receiver: WebhookReceiver;
  let gw: TestGateway;
  let routes: Map<string, ApiRoute>;
  before(async () => {
    receiver = await startWebhookReceiver(SECRET);
    const config = testConfig(
      {},
      {
        webhooks: {
          endpoints: [{ name: 'app', url: receiver.url, secret: SECRET, events: [...WEBHOOK_EVENT_TYPES] }],
          attempts: ATTEMPTS,
          baseBackoffMs: 50,
          maxBackoffMs: 200,
          timeoutMs: 2000,
        },
        api: { keys: { ops: API_KEY } },
      },
    );
    gw = await startTestGateway({ config });
    routes = new Map(webhookRoutes(gw.gateway).map((r) => [r.operationId, r]));
  });
  after(async () => {
    await gw?.stop();
    await receiver?.close();
  });

  /** Every event queued so far has been delivered or is dead: nothing more will arrive. */
  const drained = () =>
    eventually(async () => assert.equal(await gw.gateway.deps.webhooks!.queue.depth(), 0), {
      timeoutMs: 15_000,
    });

  const ofType = (type: string, messageId?: string) =>
    receiver.delivered().filter((d) => {
      if (d.event.type !== type) return false;
      if (messageId === undefined) return true;
      const data = d.event.data as { message?: { messageId: string }; messageId?: string };
      return (data.message?.messageId ?? data.messageId) === messageId;
    });

  it('signs every delivery and reports created, offline (recipient only), edited and deleted', async () => {
    const alice = await TestClient.connect(gw.url, await token('alice1'));
    try {
      await alice.waitFor((f) => f.op === 'synced');
      const conv = 'dm:alice1:bob1';
      const { messageId } = await alice.call('send', { conversationId: conv, body: 'hello bob' });
      await alice.call('edit', { conversationId: conv, messageId, body: 'hello bob!' });
      await alice.call('delete', { conversationId: conv, messageId });
      await drained();
      assert.ok(receiver.deliveries.every((d) => d.verified));
      assert.equal(
        ofType('conversation.created').filter(
          (d) => (d.event.data as { conversation: { id: string } }).conversation.id === conv,
        ).length,
        1,
      );
      const created = ofType('message.created', messageId);
      assert.equal(created.length, 1);
      assert.equal(created[0]!.id, created[0]!.event.id);
      const offline = ofType('message.offline', messageId);
      assert.deepEqual(
        offline.map((d) => (d.event.data as { userId: string }).userId),
        ['bob1'],
      );
      assert.equal(ofType('message.edited', messageId).length, 1);
      const deleted = ofType('message.deleted', messageId);
      assert.equal(deleted.length, 1);
      assert.equal((deleted[0]!.event.data as { deletedBy: string }).deletedBy, 'alice1');
    } finally {
      await alice.close();
    }
  });

  it('reports no message.offline for an online recipient, nor for one who muted the conversation', async () => {
    const alice = await TestClient.connect(gw.url, await token('alice2'));
    const bob = await TestClient.connect(gw.url, await token('bob2'));
    try {
      await alice.waitFor((f) => f.op === 'synced');
      await bob.waitFor((f) => f.op === 'synced');
      const conv = 'dm:alice2:bob2';
      const online = await alice.call('send', { conversationId: conv, body: 'bob is here' });
      const muted = await bob.call('mute', { conversationId: conv });
      assert.deepEqual(muted, { conversationId: conv, muted: true });
      await bob.close();
      await eventually(() => assert.equal(gw.gateway.hub.hasLocal('bob2'), false));
      const whileMuted = await alice.call('send', { conversationId: conv, body: 'muted now' });
      const bob2 = await TestClient.connect(gw.url, await token('bob2'));
      await bob2.waitFor((f) => f.op === 'synced');
      assert.deepEqual(await bob2.call('unmute', { conversationId: conv }), {
        conversationId: conv,
        muted: false,
      });
      await bob2.close();
      const afterUnmute = await alice.call('send', { conversationId: conv, body: 'unmuted' });
      await drained();
      assert.equal(ofType('message.created', online.messageId).length, 1);
      assert.equal(ofType('message.offline', online.messageId).length, 0, 'online recipient');
      assert.equal(ofType('message.created', whileMuted.messageId).length, 1);
      assert.equal(ofType('message.offline', whileMuted.messageId).length, 0, 'muted conversation');
      assert.equal(ofType('message.offline', afterUnmute.messageId).length, 1, 'unmuted again');
    } finally {
      await alice.close();
    }
  });

  it('reports user.erased once when an erasure finishes, with what it removed', async () => {
    const erin = await TestClient.connect(gw.url, await token('erin3'));
    try {
      await erin.waitFor((f) => f.op === 'synced');
      for (const body of ['one', 'two']) await erin.call('send', { conversationId: 'dm:erin3:fred3', body });
    } finally {
      await erin.close();
    }
    const asked = await api(gw.httpUrl, 'POST', '/v1/erasures', { userId: 'erin3' });
    assert.equal(asked.status, 202);
    const requestId = asked.body.requestId as string;
    await eventually(async () => {
      const [record] = (await api(gw.httpUrl, 'GET', `/v1/erasures/${requestId}`)).body.regions as {
        status: string;
      }[];
      assert.equal(record?.status, 'done');
    });
    await drained();
    const erased = ofType('user.erased').filter(
      (d) => (d.event.data as { requestId: string }).requestId === requestId,
    );
    assert.equal(erased.length, 1);
    const data = erased[0]!.event.data as {
      userId: string;
      region: string;
      messages: number;
      attachments: number;
    };
    assert.deepEqual(
      { userId: data.userId, region: data.region, messages: data.messages, attachments: data.attachments },
      { userId: 'erin3', region: gw.gateway.deps.region.name, messages: 2, attachments: 0 },
    );
  });

  it('the SDK mutes and unmutes; a non-member is refused not_found', async () => {
    const carol = sdkClient(gw.url, 'carol4');
    const dave = sdkClient(gw.url, 'dave4');
    await Promise.all([carol.connect(), dave.connect()]);
    const conv = 'dm:carol4:erin4';
    assert.deepEqual(await carol.mute(conv), { conversationId: conv, muted: true });
    assert.equal(await gw.gateway.deps.storage.mutes.isMuted('carol4', conv), true);
    assert.deepEqual(await carol.unmute(conv), { conversationId: conv, muted: false });
    assert.equal(await gw.gateway.deps.storage.mutes.isMuted('carol4', conv), false);
    await assert.rejects(dave.mute(conv), (err: unknown) => (err as { code?: string }).code === 'not_found');
  });

  it('serves the dead letters over HTTP: status, listing and replay, with errors as statuses', async () => {
    const alice = await TestClient.connect(gw.url, await token('alice5'));
    try {
      await alice.waitFor((f) => f.op === 'synced');
      let fixed = false;
      receiver.respond = (event) =>
        event.type === 'message.created' && event.data.message.body === 'http-broken' && !fixed ? 503 : 200;
      const { messageId } = await alice.call('send', {
        conversationId: 'dm:alice5:bob5',
        body: 'http-broken',
      });
      await drained();
      const status = await api(gw.httpUrl, 'GET', '/v1/webhooks');
      assert.equal(status.status, 200);
      assert.equal(status.body.deadLetters, 1);
      const listed = await api(gw.httpUrl, 'GET', '/v1/webhooks/dead-letters?limit=10');
      assert.equal(listed.status, 200);
      const letters = listed.body.deadLetters as { id: string; lastError: string; event: { id: string } }[];
      assert.equal(letters.length, 1);
      assert.equal(letters[0]!.lastError, 'HTTP 503');
      // The dead letter (like the queued item before it) holds no message text: it is read from
      // the store when the event is sent.
      assert.ok(!JSON.stringify(listed.body).includes('http-broken'), 'no text at rest in the dead letters');
      assert.equal((await api(gw.httpUrl, 'GET', '/v1/webhooks/dead-letters?limit=0')).status, 400);
      assert.equal(
        (await api(gw.httpUrl, 'POST', '/v1/webhooks/dead-letters/app.evt_nope/replay')).status,
        404,
      );
      assert.equal(
        (await api(gw.httpUrl, 'GET', '/v1/webhooks', undefined, { authorization: 'Bearer nope' })).status,
        401,
      );
      // Deleted while it waited in the dead letters: the replay must not send its text.
      await alice.call('delete', { conversationId: 'dm:alice5:bob5', messageId });
      fixed = true;
      const replayed = await api(gw.httpUrl, 'POST', `/v1/webhooks/dead-letters/${letters[0]!.id}/replay`);
      assert.equal(replayed.status, 200);
      assert.deepEqual(replayed.body, { replayed: true });
      await drained();
      const delivered = ofType('message.created', messageId);
      assert.equal(delivered.length, 1);
      assert.equal(delivered[0]!.id, letters[0]!.event.id);
      const sent = delivered[0]!.event;
      assert.equal(
        sent.type === 'message.created' && sent.data.message.body,
        '',
        'redacted: deleted before delivery',
      );
      const doc = (await (await fetch(`${gw.httpUrl}/api/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      assert.ok(
        doc.paths['/v1/webhooks/dead-letters/{id}/replay'] ??
          doc.paths['/api/v1/webhooks/dead-letters/{id}/replay'],
      );
    } finally {
      receiver.respond = () => 200;
      await alice.close();
    }
  });

  it('retries after 500s with the same event id, then a dead letter after the last attempt, then a replay delivers it', async () => {
    const alice = await TestClient.connect(gw.url, await token('alice3'));
    try {
      await alice.waitFor((f) => f.op === 'synced');
      const conv = 'dm:alice3:bob3';
      // `flaky` fails twice and then succeeds; `broken` fails until the receiver is fixed.
      let fixed = false;
      receiver.respond = (event, attempt) => {
        if (event.type !== 'message.created') return 200;
        const body = event.data.message.body;
        if (body === 'flaky') return attempt <= 2 ? 500 : 200;
        if (body === 'broken') return fixed ? 200 : 500;
        return 200;
      };
      const flaky = await alice.call('send', { conversationId: conv, body: 'flaky' });
      const broken = await alice.call('send', { conversationId: conv, body: 'broken' });
      await drained();
      const flakyTries = receiver.deliveries.filter(
        (d) => d.event.type === 'message.created' && d.event.data.message.messageId === flaky.messageId,
      );
      assert.deepEqual(
        flakyTries.map((d) => [d.attempt, d.status]),
        [
          [1, 500],
          [2, 500],
          [3, 200],
        ],
      );
      assert.equal(new Set(flakyTries.map((d) => d.id)).size, 1);
      const brokenTries = receiver.deliveries.filter(
        (d) => d.event.type === 'message.created' && d.event.data.message.messageId === broken.messageId,
      );
      assert.equal(brokenTries.length, ATTEMPTS);
      assert.ok(brokenTries.every((d) => d.status === 500));

      const status = await routes.get('getWebhookStatus')!.handle(request());
      assert.deepEqual(status, {
        endpoints: [{ name: 'app', events: [...WEBHOOK_EVENT_TYPES] }],
        queueDepth: 0,
        deadLetters: 1,
      });
      const { deadLetters } = (await routes.get('listWebhookDeadLetters')!.handle(request())) as {
        deadLetters: { id: string; attempts: number; lastError: string; event: { id: string } }[];
      };
      assert.equal(deadLetters.length, 1);
      const [letter] = deadLetters;
      assert.equal(letter!.event.id, brokenTries[0]!.id);
      assert.equal(letter!.attempts, ATTEMPTS);
      assert.equal(letter!.lastError, 'HTTP 500');

      await assert.rejects(
        routes.get('replayWebhookDeadLetter')!.handle(request({ id: 'app.evt_nope' })),
        (err: unknown) => err instanceof ChatError && err.code === 'not_found',
      );
      await assert.rejects(
        routes.get('listWebhookDeadLetters')!.handle(request({}, 'limit=0')),
        (err: unknown) => err instanceof ChatError && err.code === 'invalid_field',
      );
      fixed = true;
      assert.deepEqual(await routes.get('replayWebhookDeadLetter')!.handle(request({ id: letter!.id })), {
        replayed: true,
      });
      await drained();
      const delivered = ofType('message.created', broken.messageId);
      assert.equal(delivered.length, 1);
      assert.equal(delivered[0]!.id, letter!.event.id);
      assert.equal(delivered[0]!.attempt, 1);
      assert.equal(
        ((await routes.get('getWebhookStatus')!.handle(request())) as { deadLetters: number }).deadLetters,
        0,
      );

      const metrics = await gw.gateway.metrics.registry.metrics();
      assert.match(metrics, /chat_webhook_deliveries_total\{endpoint="app",outcome="dead"\} [1-9]/);
      assert.match(metrics, /chat_webhook_deliveries_total\{endpoint="app",outcome="retried"\} [1-9]/);
      assert.match(metrics, /chat_webhook_queue_depth 0/);
      assert.match(metrics, /chat_webhook_dead_letters 0/);
    } finally {
      receiver.respond = () => 200;
      await alice.close();
    }
  });
});
