/**
 * The SDK leaves a gateway that cannot serve (docs/protocol.md, "Client SDK"): a frozen one
 * (no answer to a ping), one that closes 4503, one that keeps answering `unavailable`; and it
 * resends within a few seconds, never before `retryAfterMs`. Against the scripted fake socket.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffCap, DEFAULT_RESEND_BACKOFF } from '../src/client/index.ts';
import { eventually } from './helpers/eventually.ts';
import { connected, FakeSocket, newClient, record, sentReply } from './helpers/fake-socket.ts';

/** A connection backoff so long that any reconnect within a test's time did not use it. */
const SLOW_BACKOFF = { initialMs: 60_000, maxMs: 60_000, factor: 2, jitter: 0 };

describe('ChatClient failover: a frozen gateway', () => {
  it('pings an idle connection and, with no frame back within pingTimeoutMs, moves to the next URL at once', async () => {
    const client = newClient({ pingIntervalMs: 40, pingTimeoutMs: 80, backoff: SLOW_BACKOFF });
    const { states } = record(client);
    const a = await connected(client);
    const since = Date.now();
    await eventually(() => assert.equal(a.sentOps('ping').length, 1));
    await eventually(() => assert.equal(FakeSocket.instances.length, 2), { timeoutMs: 2000 });
    assert.ok(Date.now() - since >= 80, 'not before the ping timeout');
    assert.match(FakeSocket.last().url, /^ws:\/\/b\.test\//);
    const moved = states.find((s) => s.state === 'reconnecting');
    assert.equal(moved?.closeCode, 4000);
    assert.equal(moved?.delayMs, 0);
    assert.equal(a.closedByClient, 1000);
    await client.close();
  });

  it('keeps a gateway that answers pings, whatever else it is slow at', async () => {
    const client = newClient({ pingIntervalMs: 30, pingTimeoutMs: 60, requestTimeoutMs: 5000 });
    const a = await connected(client);
    void client.send('g:1', 'stuck in a slow store').catch(() => {});
    for (let answered = 0; answered < 4; ) {
      await eventually(() => assert.ok(a.sentOps('ping').length > answered));
      a.reply('ping', { op: 'pong', serverTime: 1 });
      answered++;
    }
    assert.equal(FakeSocket.instances.length, 1);
    assert.equal(client.state, 'connected');
    await client.close();
  });

  it('pings behind a request left unanswered, long before the idle interval', async () => {
    const client = newClient({ pingIntervalMs: 60_000, pingTimeoutMs: 50, backoff: SLOW_BACKOFF });
    const a = await connected(client);
    void client.send('g:1', 'hello?').catch(() => {});
    await eventually(() => assert.equal(a.sentOps('ping').length, 1), { timeoutMs: 3000 });
    await eventually(() => assert.equal(FakeSocket.instances.length, 2), { timeoutMs: 1000 });
    const b = FakeSocket.last();
    b.accept('other');
    // The unacked message goes again, at once, on the new gateway.
    await eventually(() => assert.equal(b.sentOps('send').length, 1));
    assert.equal(b.sentOps('send')[0]!.clientMsgId, a.sentOps('send')[0]!.clientMsgId);
    await client.close();
  });
});

describe('ChatClient failover: a region that cannot serve', () => {
  it('on close 4503 connects to the next URL at once; when that refuses too, retries within the resend backoff', async () => {
    const client = newClient({
      urls: ['ws://a.test/ws', 'ws://b.test/ws', 'ws://c.test/ws'],
      backoff: SLOW_BACKOFF,
      resendBackoff: { initialMs: 30, maxMs: 30, factor: 2, jitter: 0 },
    });
    const { states } = record(client);
    const a = await connected(client);
    a.drop(4503, 'storage down; region unavailable, reconnect to another region');
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    const b = FakeSocket.last();
    assert.match(b.url, /^ws:\/\/b\.test\//);
    b.drop(4503); // its region is down as well: closed right after the upgrade
    await eventually(() => assert.equal(FakeSocket.instances.length, 3));
    assert.match(FakeSocket.last().url, /^ws:\/\/c\.test\//);
    FakeSocket.last().accept('healthy');
    await eventually(() => assert.equal(client.state, 'connected'));
    assert.deepEqual(
      states.filter((s) => s.state === 'reconnecting').map((s) => [s.closeCode, s.delayMs]),
      [
        [4503, 0],
        [4503, 30],
      ],
    );
    await client.close();
  });

  it('leaves a gateway that keeps answering unavailable, and resends there at once', async () => {
    const client = newClient({
      backoff: SLOW_BACKOFF,
      resendBackoff: { initialMs: 40, maxMs: 40, factor: 2, jitter: 0 },
      failoverAfterUnavailable: 3,
      failoverAfterUnavailableMs: 250,
    });
    const { states } = record(client);
    const a = await connected(client);
    const sent = client.send('g:1', 'hi');
    const firstAt = Date.now();
    let answered = 0;
    // Resent every 40 ms or so, answered unavailable each time, until the client leaves.
    while (FakeSocket.instances.length === 1) {
      await eventually(() =>
        assert.ok(a.sentOps('send').length > answered || FakeSocket.instances.length > 1),
      );
      if (FakeSocket.instances.length > 1) break;
      a.push({ op: 'error', id: a.sentOps('send')[answered]!.id, code: 'unavailable', message: 'NATS down' });
      answered++;
    }
    assert.ok(answered >= 3, `left after ${answered} unavailable answers`);
    assert.ok(Date.now() - firstAt >= 250, 'not before failoverAfterUnavailableMs');
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    const moved = states.find((s) => s.state === 'reconnecting');
    assert.deepEqual([moved?.closeCode, moved?.delayMs], [4503, 0]);
    const b = FakeSocket.last();
    b.accept('other');
    await eventually(() => assert.equal(b.sentOps('send').length, 1));
    assert.equal(b.sentOps('send')[0]!.clientMsgId, a.sentOps('send')[0]!.clientMsgId);
    b.push({ id: b.sentOps('send')[0]!.id, ...sentReply('70', 'g:1') });
    assert.equal((await sent).messageId, '70');
    await client.close();
  });

  it('with a single URL keeps resending instead', async () => {
    const client = newClient({
      urls: ['ws://only.test/ws'],
      failoverAfterUnavailable: 2,
      failoverAfterUnavailableMs: 0,
    });
    const a = await connected(client);
    const sent = client.send('g:1', 'hi');
    for (let i = 0; i < 4; i++) {
      await eventually(() => assert.equal(a.sentOps('send').length, i + 1));
      a.push({ op: 'error', id: a.sentOps('send')[i]!.id, code: 'unavailable', message: 'store down' });
    }
    await eventually(() => assert.equal(a.sentOps('send').length, 5));
    a.push({ id: a.sentOps('send')[4]!.id, ...sentReply('71', 'g:1') });
    assert.equal((await sent).messageId, '71');
    assert.equal(FakeSocket.instances.length, 1);
    await client.close();
  });
});

describe('ChatClient resends', () => {
  it('wait at least the error’s retryAfterMs', async () => {
    const client = newClient();
    const a = await connected(client);
    void client.send('g:1', 'hi').catch(() => {});
    await eventually(() => assert.equal(a.sentOps('send').length, 1));
    const refusedAt = Date.now();
    a.push({
      op: 'error',
      id: a.sentOps('send')[0]!.id,
      code: 'unavailable',
      message: 'too many sends in flight',
      details: { retryAfterMs: 150 },
    });
    await eventually(() => assert.equal(a.sentOps('send').length, 2));
    assert.ok(Date.now() - refusedAt >= 145, `resent after ${Date.now() - refusedAt} ms`);
    await client.close();
  });

  it('back off by at most a few seconds by default', () => {
    assert.equal(backoffCap(0, DEFAULT_RESEND_BACKOFF), 200);
    assert.equal(backoffCap(100, DEFAULT_RESEND_BACKOFF), 2000);
  });
});
