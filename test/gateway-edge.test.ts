/** Upgrade auth, abuse limits and HTTP endpoints of one embedded gateway. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, TEST_SECRET, type TestGateway, testConfig, token } from './helpers/gateway.ts';

const OPERATOR_TOKEN = 'edge-test-operator-token';
/** `/metrics` as Prometheus reads it: with the operator token. */
const metricsText = async (gw: TestGateway) =>
  (await fetch(`${gw.httpUrl}/metrics`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).text();

describe('gateway edges', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      config: testConfig(
        {},
        {
          limits: { maxFrameBytes: 1024, rateLimitPerSec: 5, rateLimitBurst: 10, floodStrikes: 5 },
          auth: { secret: TEST_SECRET, devTokens: true, operatorToken: OPERATOR_TOKEN },
        },
      ),
    });
  });
  after(() => gw.stop());

  it('refuses a missing, malformed, badly signed or expired token with HTTP 401', async () => {
    assert.equal(await TestClient.connectExpectingStatus(gw.url, null), 401);
    assert.equal(await TestClient.connectExpectingStatus(gw.url, 'not-a-jwt'), 401);
    const wrongKey = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('some-other-secret-of-enough-length'));
    assert.equal(await TestClient.connectExpectingStatus(gw.url, wrongKey), 401);
    assert.equal(await TestClient.connectExpectingStatus(gw.url, await token('alice', -10)), 401);
    const badSub = await token('not valid!');
    assert.equal(await TestClient.connectExpectingStatus(gw.url, badSub), 401);
    assert.match(await metricsText(gw), /chat_errors_total\{code="unauthorized"\} [1-9]/);
  });

  it('refuses an over-long device label or a malformed since with HTTP 400 invalid_field', async () => {
    const t = await token('params');
    for (const [query, field] of [
      [{ device: 'd'.repeat(33) }, 'device'],
      [{ since: 'yesterday' }, 'since'],
      [{ since: '-1' }, 'since'],
      [{ since: '99999999999999999999' }, 'since'],
    ] as const) {
      const { status, body } = await TestClient.refusal(gw.url, t, query);
      assert.equal(status, 400, JSON.stringify(query));
      const error = (body as { error: { code: string; details: unknown } }).error;
      assert.deepEqual([error.code, error.details], ['invalid_field', { field }]);
    }
    // At the limit is fine; a bad token is refused (401) before the parameters are looked at.
    const ok = await TestClient.connect(gw.url, t, { device: 'd'.repeat(32) });
    await ok.close();
    assert.equal((await TestClient.refusal(gw.url, 'not-a-jwt', { since: 'yesterday' })).status, 401);
    assert.match(await metricsText(gw), /chat_errors_total\{code="invalid_field"\} [4-9]/);
  });

  it('accepts a valid token and a user with several devices', async () => {
    const a = await TestClient.connect(gw.url, await token('alice'), { device: 'web' });
    const b = await TestClient.connect(gw.url, await token('alice'), { device: 'ios' });
    const w1 = a.frames[0]!;
    const w2 = b.frames[0]!;
    assert.equal(w1.op, 'welcome');
    assert.equal(w1.userId, 'alice');
    assert.equal(w1.v, 1);
    assert.notEqual(w1.connectionId, w2.connectionId);
    assert.equal(a.ws.protocol, 'chat.v1');
    await a.close();
    await b.close();
  });

  // maxFrameBytes is 1024 here: just over, 15× over (read to be refused), and past the 16× the
  // gateway reads (cut without a close frame), as docs/protocol.md "Oversized frames" says.
  for (const [what, size] of [
    ['just over the limit', 1025],
    ['15× the limit', 15 * 1024],
  ] as const) {
    it(`answers a frame ${what} with frame_too_large, then closes 4413`, async () => {
      const a = await TestClient.connect(gw.url, await token('big'));
      const other = await TestClient.connect(gw.url, await token('bystander'));
      const frame = JSON.stringify({ op: 'ping', id: 'p', pad: '' });
      a.sendRaw(frame.replace('"pad":""', `"pad":"${'x'.repeat(size - frame.length)}"`));
      const err = await a.nextFrame((f) => f.op === 'error');
      assert.deepEqual([err.code, err.id], ['frame_too_large', null]);
      assert.equal(await a.waitClose(), 4413);
      assert.equal((await other.request('ping')).op, 'pong');
      await other.close();
    });
  }

  it('drops a frame over 16× the limit without reading it: no error frame, no close frame (1006)', async () => {
    const a = await TestClient.connect(gw.url, await token('huge'));
    await a.waitFor((f) => f.op === 'synced');
    const before = a.frames.length;
    a.sendRaw(JSON.stringify({ op: 'ping', id: 'p', pad: 'x'.repeat(16 * 1024 + 1) }));
    // uWS drops the TCP connection; `ws` (the node transport) sends 1009 first. Neither reads it.
    assert.equal(await a.waitClose(), gw.gateway.transport.name === 'uws' ? 1006 : 1009);
    assert.equal(a.frames.length, before);
    const again = await TestClient.connect(gw.url, await token('huge'));
    assert.equal((await again.request('ping')).op, 'pong');
    await again.close();
  });

  it('rate-limits with error frames, then closes a flooding connection with 4429', async () => {
    const a = await TestClient.connect(gw.url, await token('flood'));
    await a.waitFor((f) => f.op === 'synced');
    for (let i = 0; i < 30; i++) a.sendRaw(JSON.stringify({ op: 'ping', id: `p${i}` }));
    assert.equal(await a.waitClose(), 4429);
    const limited = a.frames.filter((f) => f.op === 'error' && f.code === 'rate_limited');
    assert.ok(limited.length >= 1);
    assert.ok(
      limited.some((f) => typeof f.id === 'string' && f.id.startsWith('p')),
      'errors echo the request id',
    );
    // A new connection of the same user works.
    const again = await TestClient.connect(gw.url, await token('flood'));
    assert.equal((await again.request('ping')).op, 'pong');
    await again.close();
  });

  it('serves healthz, readyz, metrics and dev tokens', async () => {
    const health = await fetch(`${gw.httpUrl}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${gw.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { checks: Record<string, string> };
    assert.deepEqual(body.checks, { storage: 'ok', presence: 'ok', routing: 'ok' });
    const metrics = await metricsText(gw);
    for (const name of [
      'chat_connections',
      'chat_frames_in_total',
      'chat_frames_out_total',
      'chat_messages_stored_total',
      'chat_errors_total',
      'chat_store_latency_seconds_bucket',
    ]) {
      assert.ok(metrics.includes(name), name);
    }
    const dev = await fetch(`${gw.httpUrl}/dev/token?user=zed`);
    assert.equal(dev.status, 200);
    const { token: t } = (await dev.json()) as { token: string };
    const c = await TestClient.connect(gw.url, t);
    assert.equal(c.frames[0]!.userId, 'zed');
    await c.close();
    assert.equal((await fetch(`${gw.httpUrl}/dev/token?user=bad%20name`)).status, 400);
  });

  it('serves /metrics only with the operator token (401 otherwise), and not at all without one (404)', async () => {
    const get = (g: TestGateway, auth?: string) =>
      fetch(`${g.httpUrl}/metrics`, auth ? { headers: { authorization: auth } } : {});
    assert.equal((await get(gw)).status, 401);
    assert.equal((await get(gw, 'Bearer not-the-operator-token')).status, 401);
    assert.equal((await get(gw, OPERATOR_TOKEN)).status, 401, 'the Bearer scheme is required');
    const unauthorized = await get(gw);
    assert.equal(((await unauthorized.json()) as { error: { code: string } }).error.code, 'unauthorized');
    assert.equal((await get(gw, `Bearer ${OPERATOR_TOKEN}`)).status, 200);
    const noOperator = await startTestGateway({ config: testConfig() });
    try {
      const res = await get(noOperator, `Bearer ${OPERATOR_TOKEN}`);
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    } finally {
      await noOperator.stop();
    }
  });
});

describe('asymmetric tokens', () => {
  for (const alg of ['RS256', 'ES256'] as const) {
    it(`accepts ${alg} tokens verified with a public key`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg);
      const config = testConfig({}, { auth: { publicKey: await exportSPKI(publicKey), algorithms: [alg] } });
      const gw = await startTestGateway({ config });
      try {
        const jwt = await new SignJWT({})
          .setProtectedHeader({ alg })
          .setSubject('ann')
          .setExpirationTime('1h')
          .sign(privateKey);
        const c = await TestClient.connect(gw.url, jwt);
        assert.equal(c.frames[0]!.userId, 'ann');
        await c.close();
        // An HS256 token is refused when only the asymmetric algorithm is configured.
        assert.equal(await TestClient.connectExpectingStatus(gw.url, await token('ann')), 401);
      } finally {
        await gw.stop();
      }
    });
  }
});

/**
 * Frames are queued per connection and written once per event-loop turn; these check that a
 * replay larger than the drain threshold still pauses and resumes correctly, and that a client
 * that stops reading is closed 4509 rather than silently losing frames.
 */
describe('gateway write path under backpressure', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      config: testConfig(
        {},
        {
          limits: {
            rateLimitPerSec: 1e6,
            rateLimitBurst: 1e6,
            floodStrikes: 1e6,
            maxBackpressureBytes: 512 * 1024,
            // The sends below go out all at once; this suite is about writes, not admission.
            maxInFlightSends: 10_000,
          },
        },
      ),
    });
  });
  after(() => gw.stop());

  it('replays 600 messages of 4 KB (2.4 MB, many drain pauses) to a reconnecting client, in order', async () => {
    const alice = await TestClient.connect(gw.url, await token('bp-alice'));
    await alice.waitFor((f) => f.op === 'synced');
    const { conversation } = await alice.call('openDirect', {
      userId: 'bp-bob',
    });
    const bodies = Array.from({ length: 600 }, (_, i) => `${String(i).padStart(4, '0')}${'b'.repeat(4000)}`);
    const acks = await Promise.all(
      bodies.map((body, i) =>
        alice.call('send', {
          conversationId: conversation.id,
          body,
          clientMsgId: `bp-${i}`,
        }),
      ),
    );
    const bob = await TestClient.connect(gw.url, await token('bp-bob'));
    const synced = await bob.waitFor((f) => f.op === 'synced', 30_000);
    assert.equal(synced.count, 600);
    const got = bob.messages(conversation.id);
    assert.equal(got.length, 600);
    assert.ok(got.every((m) => m.replay));
    const sortedAckIds = acks.map((a) => BigInt(a.messageId)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(
      got.map((m) => BigInt(m.id)),
      sortedAckIds,
      'every acked message replayed once, in id order',
    );
    // The connection is still usable after the replay.
    assert.equal((await bob.request('ping')).op, 'pong');
    await bob.close();
    await alice.close();
  });

  it('closes a recipient that stops reading with 4509 once 512 KB are queued; others are unaffected', async () => {
    const alice = await TestClient.connect(gw.url, await token('sc-alice'));
    await alice.waitFor((f) => f.op === 'synced');
    const slow = await TestClient.connect(gw.url, await token('sc-slow'));
    await slow.waitFor((f) => f.op === 'synced');
    const carol = await TestClient.connect(gw.url, await token('sc-carol'));
    await carol.waitFor((f) => f.op === 'synced');
    const { conversation } = await alice.call('createGroup', {
      title: 'slow',
      members: ['sc-slow', 'sc-carol'],
    });
    // Stop reading: the kernel buffers fill, then uWS's, until maxBackpressureBytes.
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    let sent = 0;
    const body = 'x'.repeat(7000);
    const closed = slow.waitClose(60_000);
    let isClosed = false;
    void closed.then(() => {
      isClosed = true;
    });
    // Bounded: 3,000 × 7 KB = 21 MB is far more than loopback buffers plus 512 KB.
    while (sent < 3000 && !isClosed && gw.gateway.hub.connectionCount === 3) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          alice.call('send', { conversationId: conversation.id, body, clientMsgId: `sc-${sent + i}` }),
        ),
      );
      sent += 50;
    }
    socket.resume();
    // 4509 is sent, but behind the frames that filled the pipe: a client whose buffers are full
    // may see the TCP close first (1006). Either way the gateway dropped it, and it resumes.
    assert.ok([4509, 1006].includes(await closed), `close code ${slow.closeCode}`);
    assert.ok(sent < 3000, 'closed before the bound');
    await eventually(() => assert.equal(gw.gateway.hub.connectionCount, 2));
    // Carol, reading normally, got every message.
    await carol.waitFor(
      (f) => f.op === 'message' && (f.message as { clientMsgId: string }).clientMsgId === `sc-${sent - 1}`,
    );
    assert.equal(carol.messages(conversation.id).length, sent);
    // The slow client resumes from before the group and gets every message, once, in order.
    const again = await TestClient.connect(gw.url, await token('sc-slow'), { since: '1' });
    const synced = await again.waitFor((f) => f.op === 'synced', 30_000);
    assert.equal(synced.count, sent);
    assert.deepEqual(
      again.messages(conversation.id).map((m) => m.body.length),
      Array.from({ length: sent }, () => body.length),
    );
    assert.equal((await alice.request('ping')).op, 'pong');
    await again.close();
    await carol.close();
    await alice.close();
  });
});

describe('a truncated replay', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ config: testConfig({}, { limits: { maxResumeMessages: 5 } }) });
  });
  after(() => gw.stop());

  it('holds the oldest missed messages of all conversations; sync from its lastId gets the rest', async () => {
    const alice = await TestClient.connect(gw.url, await token('tr-alice'));
    const bob = await TestClient.connect(gw.url, await token('tr-bob'));
    await bob.waitFor((f) => f.op === 'synced');
    const dm = (await alice.call('openDirect', { userId: 'tr-bob' })).conversation.id;
    const group = (await alice.call('createGroup', { title: 'tr', members: ['tr-bob'] })).conversation.id;
    // Interleaved, so that whichever conversation a replay reads first, the other holds older
    // messages than most of it: six each, more than the cap of 5 in either one alone.
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) {
      for (const conversationId of [dm, group]) {
        sent.push((await alice.call('send', { conversationId, body: `${conversationId} ${i}` })).messageId);
      }
    }
    await bob.waitFor((f) => f.op === 'message' && (f.message as { id: string }).id === sent.at(-1));
    await bob.close();

    const again = await TestClient.connect(gw.url, await token('tr-bob'), { since: '1' });
    const first = await again.waitFor((f) => f.op === 'synced');
    assert.deepEqual([first.count, first.lastId, first.truncated], [5, sent[4], true]);
    const second = await again.request('sync', { since: first.lastId });
    assert.deepEqual([second.count, second.lastId, second.truncated], [5, sent[9], true]);
    const third = await again.request('sync', { since: second.lastId });
    assert.deepEqual([third.count, third.lastId, third.truncated], [2, sent[11], false]);
    assert.deepEqual(
      again.messages().map((m) => m.id),
      sent,
      'every missed message once, in id order, across the three replays',
    );
    await again.close();
    await alice.close();
  });
});

describe('overload', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      config: testConfig(
        {},
        { limits: { rateLimitPerSec: 1e6, rateLimitBurst: 1e6, floodStrikes: 1e6, maxInFlightSends: 1 } },
      ),
    });
  });
  after(() => gw.stop());

  it('answers sends past maxInFlightSends with a retryable `unavailable`; retries are stored once', async () => {
    const alice = await TestClient.connect(gw.url, await token('ov-alice'));
    await alice.waitFor((f) => f.op === 'synced');
    const { conversation } = await alice.call('openDirect', {
      userId: 'ov-bob',
    });
    const send = (i: number) =>
      alice.request('send', { conversationId: conversation.id, body: `m${i}`, clientMsgId: `ov-${i}` });
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));
    const refused = first.flatMap((r, i) => (r.op === 'error' ? [i] : []));
    assert.ok(refused.length > 0, 'some sends were refused while one was in flight');
    for (const i of refused) {
      const r = first[i]!;
      assert.equal(r.code, 'unavailable');
      assert.equal((r.details as { retryAfterMs: number }).retryAfterMs, 100);
    }
    // Retried one at a time, every refused send goes through; nothing was stored twice.
    for (const i of refused) assert.equal((await send(i)).op, 'sent');
    const history = await alice.call('history', {
      conversationId: conversation.id,
      limit: 50,
    });
    assert.deepEqual(
      history.messages.map((m) => m.body).sort(),
      Array.from({ length: 20 }, (_, i) => `m${i}`).sort(),
    );
    await alice.close();
  });
});
