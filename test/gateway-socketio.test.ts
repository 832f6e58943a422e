/** The Socket.IO endpoint of an embedded gateway: auth, the event mapping, limits, resume. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Frame, TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';
import { IoTestClient, ioUrl } from './helpers/io-client.ts';

describe('Socket.IO endpoint', () => {
  let gw: TestGateway;
  let url: string;
  const clients: (IoTestClient | TestClient)[] = [];
  const open = async (userId: string, opts: Parameters<typeof IoTestClient.connect>[2] = {}) => {
    const c = await IoTestClient.connect(url, await token(userId), opts);
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced');
    return c;
  };
  const openRaw = async (userId: string) => {
    const c = await TestClient.connect(gw.url, await token(userId));
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced');
    return c;
  };

  before(async () => {
    gw = await startTestGateway();
    url = ioUrl(gw.url);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.stop();
  });

  it('refuses a missing, bad or expired token with connect_error data.code unauthorized', async () => {
    for (const t of [null, 'not-a-jwt', await token('alice', -10)]) {
      const err = await IoTestClient.connectError(url, t);
      assert.equal(err.data?.code, 'unauthorized');
    }
    const viaQuery = await IoTestClient.connectError(url, 'garbage', { tokenInQuery: true });
    assert.equal(viaQuery.data?.code, 'unauthorized');
  });

  it('refuses an over-long device or a malformed since with connect_error invalid_field, as /ws does', async () => {
    const t = await token('sioParams');
    for (const [opts, field] of [
      [{ device: 'd'.repeat(33) }, 'device'],
      [{ since: 'yesterday' }, 'since'],
    ] as const) {
      const err = (await IoTestClient.connectError(url, t, opts)) as Error & {
        data?: { code?: string; details?: unknown };
      };
      assert.deepEqual([err.data?.code, err.data?.details], ['invalid_field', { field }]);
    }
  });

  it('accepts auth.token or query token, over polling or straight WebSocket, and sends welcome then synced', async () => {
    const a = await open('sioAlice', { device: 'web' });
    const welcome = a.frames[0]!;
    assert.equal(welcome.op, 'welcome');
    assert.equal(welcome.userId, 'sioAlice');
    assert.equal(welcome.v, 1);
    assert.equal((await a.waitFor((f) => f.op === 'synced')).count, 0);
    const b = await open('sioAlice', { tokenInQuery: true, transports: ['websocket'] });
    assert.notEqual(b.frames[0]!.connectionId, welcome.connectionId);
    const pong = await b.request('ping');
    assert.equal(pong.op, 'pong');
    assert.equal(pong.id, 'q1');
  });

  it('answers requests through the ack with the same frames and error codes as /ws', async () => {
    const a = await open('sioErr');
    const unknown = await a.request('fly');
    assert.equal(unknown.op, 'error');
    assert.equal(unknown.code, 'unknown_op');
    const noBody = await a.request('send', { conversationId: 'dm:sioErr:x' });
    assert.equal(noBody.code, 'invalid_field');
    assert.deepEqual(noBody.details, { field: 'body' });
    const notMine = await a.request('history', { conversationId: 'dm:x:y' });
    assert.equal(notMine.code, 'not_found');
    const notObject = (await a.socket.timeout(5000).emitWithAck('send', 'hello')) as { code: string };
    assert.equal(notObject.code, 'bad_frame');
    // Without an id the server fills one in; the ack still correlates.
    const noId = (await a.socket.timeout(5000).emitWithAck('ping', {})) as { op: string; id: string };
    assert.equal(noId.op, 'pong');
    assert.match(noId.id, /^io-\d+$/);
    // Without an ack the reply comes as an event named after its op.
    a.emit('ping', { id: 'evt' });
    assert.equal((await a.waitFor((f) => f.op === 'pong' && f.id === 'evt')).op, 'pong');
  });

  it('delivers the same messages in the same order to a Socket.IO client and a raw client', async () => {
    const alice = await openRaw('mixAlice');
    const bobIo = await open('mixBob');
    const carol = await openRaw('mixCarol');
    const g = (
      await alice.call('createGroup', {
        title: 'mixed',
        members: ['mixBob', 'mixCarol'],
      })
    ).conversation.id;
    await bobIo.waitFor((f) => f.op === 'conversation');
    const sent: string[] = [];
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const from = i % 2 === 0 ? alice : bobIo;
      sends.push(
        from.request('send', { conversationId: g, body: `m${i}`, clientMsgId: `m${i}` }).then((r) => {
          assert.equal(r.op, 'sent', JSON.stringify(r));
          sent.push(String(r.messageId));
        }),
      );
    }
    await Promise.all(sends);
    const ordered = [...sent].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
    await eventually(() => {
      assert.equal(carol.messages(g).length, 20);
      assert.equal(bobIo.messages(g).length, 10);
      assert.equal(alice.messages(g).length, 10);
    });
    // One gateway delivers a conversation in id order, whatever the transport.
    assert.deepEqual(
      carol.messages(g).map((m) => m.id),
      ordered,
    );
    const from = (sender: string) =>
      ordered.filter((id) => carol.messages(g).some((m) => m.id === id && m.senderId === sender));
    assert.deepEqual(
      bobIo.messages(g).map((m) => m.id),
      from('mixAlice'),
    );
    assert.deepEqual(
      alice.messages(g).map((m) => m.id),
      from('mixBob'),
    );
    const hist = await bobIo.call('history', { conversationId: g });
    assert.deepEqual(hist.messages.map((m) => m.id).reverse(), ordered);
  });

  it('resumes from auth.since with exactly what was missed, and replays the offline queue', async () => {
    const a = await openRaw('resAlice');
    const b = await open('resBob');
    const conv = 'dm:resAlice:resBob';
    const first = await a.request('send', { conversationId: conv, body: 'first' });
    await b.waitFor((f) => f.op === 'message');
    await b.close();
    const missed: string[] = [];
    for (let i = 0; i < 5; i++) {
      missed.push(String((await a.request('send', { conversationId: conv, body: `x${i}` })).messageId));
    }
    const b2 = await open('resBob', { since: String(first.messageId) });
    const synced = await b2.waitFor((f) => f.op === 'synced');
    assert.equal(synced.count, 5);
    assert.deepEqual(
      b2.messages(conv).map((m) => m.id),
      missed,
    );
    assert.ok(b2.messages(conv).every((m) => m.replay));
    // Acking over Socket.IO empties the queue (the ack callback is called with no reply).
    await b2.socket.timeout(5000).emitWithAck('ack', { messageIds: missed });
    const b3 = await open('resBob');
    assert.equal((await b3.waitFor((f) => f.op === 'synced')).count, 0);
  });
});

describe('Socket.IO endpoint limits', () => {
  let gw: TestGateway;
  let url: string;
  const clients: IoTestClient[] = [];
  const open = async (userId: string, opts: Parameters<typeof IoTestClient.connect>[2] = {}) => {
    const c = await IoTestClient.connect(url, await token(userId), opts);
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced');
    return c;
  };

  before(async () => {
    gw = await startTestGateway({
      config: testConfig(
        {},
        { limits: { maxFrameBytes: 1024, rateLimitPerSec: 5, rateLimitBurst: 10, floodStrikes: 5 } },
      ),
    });
    url = ioUrl(gw.url);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.stop();
  });

  it('answers rate_limited through the ack, then closes a flooding client with a close event 4429', async () => {
    const a = await open('sioFlood', { transports: ['websocket'] });
    const replies = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => a.request('ping', { id: `p${i}` }, 2000)),
    );
    assert.equal(await a.waitClose(), 4429);
    const limited = replies
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<Frame>).value)
      .filter((f) => f.code === 'rate_limited');
    assert.ok(limited.length >= 1);
    assert.ok(limited.every((f) => String(f.id).startsWith('p')));
    const close = a.frames.find((f) => f.op === 'close');
    assert.equal(close?.code, 4429);
  });

  for (const pad of [2000, 15 * 1024]) {
    it(`sends frame_too_large and a close event 4413 for an oversized packet (${pad} bytes of padding)`, async () => {
      const a = await open('sioBig', { transports: ['websocket'] });
      const other = await open('sioBystander');
      a.emit('ping', { id: 'big', pad: 'x'.repeat(pad) });
      const err = await a.waitFor((f) => f.op === 'error');
      assert.equal(err.code, 'frame_too_large');
      assert.equal(await a.waitClose(), 4413);
      assert.equal((await other.request('ping')).op, 'pong');
    });
  }
});
