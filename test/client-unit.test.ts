/** The client SDK's pieces and its behaviour against a scripted fake WebSocket (no server). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Inbox } from '../src/client/inbox.ts';
import {
  backoffCap,
  backoffDelay,
  ChatClientError,
  compareIds,
  jwtExpiry,
  LruSet,
  MemoryClientStorage,
  maxId,
} from '../src/client/index.ts';
import { Outbox } from '../src/client/outbox.ts';
import { eventually } from './helpers/eventually.ts';
import { connected, FakeSocket, msg, newClient, record, sentReply, tick } from './helpers/fake-socket.ts';

// ---- pure pieces ----------------------------------------------------------------------------

describe('backoff', () => {
  const opts = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 1 };

  it('grows exponentially from initialMs and stops at maxMs', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 10, 2000].map((a) => backoffCap(a, opts)),
      [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
    );
  });

  it('full jitter draws uniformly from [0, cap]', () => {
    assert.equal(
      backoffDelay(3, opts, () => 0),
      800,
    );
    assert.equal(
      backoffDelay(3, opts, () => 0.5),
      400,
    );
    assert.equal(
      backoffDelay(3, opts, () => 0.999999),
      0,
    );
  });

  it('partial jitter keeps a floor; no jitter is deterministic', () => {
    assert.equal(
      backoffDelay(2, { ...opts, jitter: 0.25 }, () => 0.999999),
      300,
    );
    assert.equal(
      backoffDelay(2, { ...opts, jitter: 0 }, () => 0.7),
      400,
    );
  });

  it('rejects nonsense options', () => {
    assert.throws(() => newClient({ backoff: { initialMs: 100, maxMs: 10 } }), RangeError);
    assert.throws(() => newClient({ backoff: { jitter: 2 } }), RangeError);
  });
});

describe('ids', () => {
  it('compares decimal ids as 64-bit integers', () => {
    assert.ok(compareIds('9', '10') < 0);
    // Beyond 2^53 numbers would call these equal.
    assert.ok(compareIds('9007199254740993', '9007199254740992') > 0);
    assert.equal(compareIds('7301234567890123', '7301234567890123'), 0);
    assert.equal(maxId(null, '5'), '5');
    assert.equal(maxId('18446744073709551615', '9'), '18446744073709551615');
  });

  it('LruSet forgets the oldest beyond its capacity', () => {
    const set = new LruSet(3);
    for (const k of ['a', 'b', 'c']) assert.equal(set.add(k), true);
    assert.equal(set.add('a'), false); // refreshes a
    set.add('d'); // evicts b, the oldest untouched
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((k) => set.has(k)),
      [true, false, true, true],
    );
    assert.equal(set.size, 3);
  });

  it('reads a JWT expiry without verifying it', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'a', exp: 1_800_000_000 })).toString('base64url');
    assert.equal(jwtExpiry(`h.${payload}.s`), 1_800_000_000_000);
    assert.equal(jwtExpiry('not-a-jwt'), null);
  });
});

describe('Inbox', () => {
  function inbox() {
    const out: string[] = [];
    const box = new Inbox({ dedupCapacity: 100, deliver: (m) => out.push(m.id) });
    return { box, out };
  }

  it('delivers live messages once and tracks the newest id', () => {
    const { box, out } = inbox();
    for (const id of ['5', '7', '5', '6', '7']) box.receive(msg(id), false);
    assert.deepEqual(out, ['5', '7', '6']);
    assert.equal(box.lastSeenId, '7');
  });

  it('holds a replay back and releases it sorted, then returns the replayed ids to ack', () => {
    const { box, out } = inbox();
    box.receive(msg('3'), false);
    box.beginReplay();
    for (const id of ['12', '3', '10', '11', '10']) box.receive(msg(id), true);
    box.receive(msg('20'), false);
    assert.deepEqual(out, ['3']);
    assert.equal(box.lastSeenId, '3', 'nothing held counts as seen');
    const acks = box.endReplay();
    assert.deepEqual(out, ['3', '10', '11', '12', '20']);
    assert.deepEqual(new Set(acks), new Set(['12', '3', '10', '11']));
    assert.equal(box.lastSeenId, '20');
  });

  it('nested replays release together; an aborted replay is forgotten', () => {
    const { box, out } = inbox();
    box.beginReplay();
    box.beginReplay();
    box.receive(msg('2'), true);
    assert.deepEqual(box.endReplay(), []);
    assert.deepEqual(out, []);
    box.receive(msg('1'), true);
    box.endReplay();
    assert.deepEqual(out, ['1', '2']);
    box.beginReplay();
    box.receive(msg('9'), true);
    box.abortReplays();
    assert.deepEqual(out, ['1', '2']);
    assert.equal(box.lastSeenId, '2');
    box.receive(msg('9'), false);
    assert.deepEqual(out, ['1', '2', '9']);
  });

  it('never redelivers an id it was told this device sent', () => {
    const { box, out } = inbox();
    box.markSeen('4');
    box.receive(msg('4'), true);
    assert.deepEqual(out, []);
  });
});

describe('Outbox', () => {
  const entry = (n: number, conversationId: string, queuedAt = n) => ({
    clientMsgId: `c${n}`,
    conversationId,
    body: `b${n}`,
    queuedAt,
    seq: n,
  });

  it('offers one head per conversation, in queue order', () => {
    const box = new Outbox();
    box.add(entry(1, 'x'), true);
    box.add(entry(2, 'x'), true);
    box.add(entry(3, 'y'), true);
    assert.deepEqual(
      box.ready(0).map((p) => p.entry.clientMsgId),
      ['c1', 'c3'],
    );
    box.get('c1')!.inFlight = true;
    assert.deepEqual(
      box.ready(0).map((p) => p.entry.clientMsgId),
      ['c3'],
    );
    box.remove('c1');
    assert.deepEqual(
      box.ready(0).map((p) => p.entry.clientMsgId),
      ['c2', 'c3'],
    );
  });

  it('sorts entries restored later before newer ones, and waits for persistence and retry time', () => {
    const box = new Outbox();
    box.add(entry(5, 'x', 500), false);
    box.add(entry(1, 'x', 100), true);
    assert.equal(box.ready(0)[0]?.entry.clientMsgId, 'c1');
    box.remove('c1');
    assert.deepEqual(box.ready(0), [], 'not persisted yet');
    const p = box.get('c5')!;
    p.persisted = true;
    p.retryAt = 50;
    assert.deepEqual(box.ready(10), []);
    assert.equal(box.nextRetryAt(10), 50);
    assert.equal(box.ready(50).length, 1);
  });
});

// ---- the client against a fake socket ----------------------------------------------------

describe('ChatClient connection', () => {
  it('connects with token, device and subprotocol, and reports state with region', async () => {
    const client = newClient();
    const { states } = record(client);
    const sock = await connected(client);
    assert.equal(sock.query.get('token'), 'tok');
    assert.equal(sock.query.get('device'), 'unit');
    assert.equal(sock.query.get('since'), null);
    assert.equal(sock.protocols, 'chat.v1');
    assert.deepEqual(
      states.map((s) => [s.state, s.url, s.region]),
      [
        ['connecting', 'ws://a.test/ws', null],
        ['connected', 'ws://a.test/ws', 'test'],
      ],
    );
    await client.close();
    assert.equal(client.state, 'closed');
    assert.equal(sock.closedByClient, 1000);
  });

  it('fails over round-robin after a failed attempt and after a close, resuming with since', async () => {
    const client = newClient({ urls: ['ws://a.test/ws', 'ws://b.test/ws', 'ws://c.test/ws'] });
    const { states, messages } = record(client);
    const done = client.connect();
    await eventually(() => assert.equal(FakeSocket.instances.length, 1));
    FakeSocket.last().drop(1006); // a.test is down
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    const b = FakeSocket.last();
    assert.match(b.url, /^ws:\/\/b\.test\/ws\?/);
    b.accept('eu');
    await done;
    b.push({ op: 'message', message: msg('41'), replay: false });
    b.push({ op: 'message', message: msg('42'), replay: false });
    b.drop(1001, 'going away');
    await eventually(() => assert.equal(FakeSocket.instances.length, 3));
    const c = FakeSocket.last();
    assert.match(c.url, /^ws:\/\/c\.test\/ws\?/);
    assert.equal(c.query.get('since'), '42');
    c.accept('ap');
    await eventually(() => assert.equal(client.state, 'connected'));
    assert.deepEqual(
      states.map((s) => s.state),
      ['connecting', 'reconnecting', 'connected', 'reconnecting', 'connected'],
    );
    assert.equal(states[3]?.closeCode, 1001);
    assert.equal(states.at(-1)?.region, 'ap');
    assert.equal(messages.length, 2);
    await client.close();
  });

  it('fetches a new token after close 4401 and after an HTTP 401 handshake', async () => {
    let n = 0;
    const client = newClient({ token: async () => `t${++n}` });
    const sock = await connected(client);
    assert.equal(sock.query.get('token'), 't1');
    sock.drop(4401, 'token expired');
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    assert.equal(FakeSocket.last().query.get('token'), 't2');
    FakeSocket.last().refuse(401);
    await eventually(() => assert.equal(FakeSocket.instances.length, 3));
    assert.equal(FakeSocket.last().query.get('token'), 't3');
    FakeSocket.last().accept();
    await eventually(() => assert.equal(client.state, 'connected'));
    await client.close();
  });

  it('keeps a token that was not refused, and gives up on a fixed token the server refuses', async () => {
    const client = newClient();
    const { errors } = record(client);
    const done = client.connect();
    await eventually(() => assert.equal(FakeSocket.instances.length, 1));
    FakeSocket.last().refuse(401);
    await assert.rejects(done, (err: ChatClientError) => err.code === 'unauthorized');
    assert.equal(client.state, 'closed');
    assert.ok(errors.some((e) => e.code === 'unauthorized'));
  });

  it('retries when the token function fails or hangs', async () => {
    let n = 0;
    const client = newClient({
      requestTimeoutMs: 50,
      token: () => {
        n++;
        if (n === 1) return Promise.reject(new Error('auth server down'));
        if (n === 2) return new Promise<string>(() => {});
        return Promise.resolve('good');
      },
    });
    const { errors } = record(client);
    const done = client.connect();
    await eventually(() => assert.equal(FakeSocket.instances.length, 1), { timeoutMs: 2000 });
    assert.equal(FakeSocket.last().query.get('token'), 'good');
    FakeSocket.last().accept();
    await done;
    assert.deepEqual(
      errors.map((e) => e.code),
      ['token_failed', 'token_failed'],
    );
    await client.close();
  });

  it('drops a socket that stops answering pings and reconnects', async () => {
    const client = newClient({ pingIntervalMs: 30, pingTimeoutMs: 60 });
    const { states } = record(client);
    const sock = await connected(client);
    await eventually(() => assert.ok(sock.sentOps('ping').length > 0));
    await eventually(() => assert.equal(FakeSocket.instances.length, 2), { timeoutMs: 2000 });
    assert.ok(states.some((s) => s.state === 'reconnecting' && s.closeCode === 4000));
    await client.close();
  });

  it('gives up on a gateway that never sends welcome', async () => {
    const client = newClient({ requestTimeoutMs: 50 });
    client.connect().catch(() => {});
    await eventually(() => assert.ok(FakeSocket.instances.length >= 2), { timeoutMs: 2000 });
    assert.match(FakeSocket.instances[1]!.url, /b\.test/);
    await client.close();
  });
});

describe('ChatClient messages', () => {
  it('buffers the connect replay, delivers it in id order without duplicates, then acks it', async () => {
    const client = newClient();
    const { messages } = record(client);
    const synced: unknown[] = [];
    client.on('synced', (s) => synced.push(s));
    const sock = await connected(client, { sync: false });
    sock.push({ op: 'message', message: msg('30', 'g:1'), replay: true });
    sock.push({ op: 'message', message: msg('10'), replay: true });
    sock.push({ op: 'message', message: msg('20', 'g:1'), replay: true });
    sock.push({ op: 'message', message: msg('10'), replay: true });
    assert.equal(messages.length, 0, 'nothing before synced');
    sock.push({ op: 'synced', id: null, count: 4, lastId: '30', truncated: false });
    assert.deepEqual(
      messages.map((m) => m.id),
      ['10', '20', '30'],
    );
    const acks = sock.sentOps('ack');
    assert.equal(acks.length, 1);
    assert.deepEqual(new Set(acks[0]!.messageIds as string[]), new Set(['10', '20', '30']));
    assert.deepEqual(synced, [{ initial: true, count: 4, lastId: '30', truncated: false, position: '' }]);
    // The same message live again: dropped.
    sock.push({ op: 'message', message: msg('30', 'g:1'), replay: false });
    sock.push({ op: 'message', message: msg('31', 'g:1'), replay: false });
    assert.deepEqual(
      messages.map((m) => m.id),
      ['10', '20', '30', '31'],
    );
    assert.equal(client.lastSeenId, '31');
    await client.close();
  });

  it('forgets a replay cut off by a disconnect and resumes from before it', async () => {
    const client = newClient();
    const { messages } = record(client);
    const sock = await connected(client);
    sock.push({ op: 'message', message: msg('5'), replay: false });
    sock.drop();
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    const second = FakeSocket.last();
    assert.equal(second.query.get('since'), '5');
    second.accept('test', { sync: false });
    second.push({ op: 'message', message: msg('6'), replay: true });
    second.drop();
    await eventually(() => assert.equal(FakeSocket.instances.length, 3));
    assert.equal(FakeSocket.last().query.get('since'), '5');
    assert.equal(second.sentOps('ack').length, 0);
    FakeSocket.last().accept('test', { sync: false });
    FakeSocket.last().push({ op: 'message', message: msg('6'), replay: true });
    FakeSocket.last().push({ op: 'synced', id: null, count: 1, lastId: '6', truncated: false });
    assert.deepEqual(
      messages.map((m) => m.id),
      ['5', '6'],
    );
    await client.close();
  });

  it('continues a truncated replay with sync from the last id', async () => {
    const client = newClient();
    const { messages } = record(client);
    const sock = await connected(client, { sync: false });
    sock.push({ op: 'message', message: msg('1'), replay: true });
    sock.push({ op: 'synced', id: null, count: 1, lastId: '1', truncated: true });
    await eventually(() => assert.equal(sock.sentOps('sync').length, 1));
    assert.equal(sock.sentOps('sync')[0]!.since, '1');
    sock.push({ op: 'message', message: msg('2'), replay: true });
    sock.reply('sync', { op: 'synced', count: 1, lastId: '2', truncated: false });
    await eventually(() =>
      assert.deepEqual(
        messages.map((m) => m.id),
        ['1', '2'],
      ),
    );
    await client.close();
  });

  it('forwards conversation, receipt, presence and typing frames as events', async () => {
    const client = newClient();
    const seen: string[] = [];
    client.on('conversation', (c) => seen.push(`conversation:${c.event}:${c.conversation.id}`));
    client.on('receipt', (r) => seen.push(`receipt:${r.userId}:${r.messageId}`));
    client.on('presence', (p) => seen.push(`presence:${String(p.userId)}`));
    const offTyping = client.on('typing', (t) => seen.push(`typing:${String(t.userId)}`));
    const sock = await connected(client);
    const conversation = {
      id: 'g:1',
      kind: 'group',
      title: 't',
      createdBy: 'alice',
      createdAt: 1,
      members: ['alice'],
    };
    sock.push({ op: 'conversation', conversation, event: 'created' });
    sock.push({ op: 'receipt', conversationId: 'g:1', userId: 'bob', messageId: '9' });
    sock.push({ op: 'presence', userId: 'bob', status: 'online' });
    sock.push({ op: 'typing', conversationId: 'g:1', userId: 'bob' });
    offTyping();
    sock.push({ op: 'typing', conversationId: 'g:1', userId: 'carol' });
    sock.push({ op: 'from-the-future' });
    assert.deepEqual(seen, ['conversation:created:g:1', 'receipt:bob:9', 'presence:bob', 'typing:bob']);
    await client.close();
  });
});

describe('ChatClient requests', () => {
  it('rejects with the server code, with timeout, and with disconnected', async () => {
    const client = newClient({ requestTimeoutMs: 100 });
    const sock = await connected(client);
    const typing = client.typing('g:1');
    assert.deepEqual(sock.sentOps('typing')[0], {
      op: 'typing',
      id: sock.sentOps('typing')[0]!.id,
      conversationId: 'g:1',
    });
    sock.reply('typing', { op: 'error', code: 'unknown_op', message: 'unknown op "typing"' });
    await assert.rejects(
      typing,
      (err: ChatClientError) => err instanceof ChatClientError && err.code === 'unknown_op',
    );

    await assert.rejects(client.listConversations(), (err: ChatClientError) => err.code === 'timeout');

    const history = client.history('g:1', { before: '10', limit: 5 });
    assert.deepEqual(sock.sentOps('history').at(-1), {
      op: 'history',
      id: sock.sentOps('history').at(-1)!.id,
      conversationId: 'g:1',
      before: '10',
      limit: 5,
    });
    sock.drop();
    await assert.rejects(history, (err: ChatClientError) => err.code === 'disconnected');
    assert.equal(client.state, 'reconnecting');
    await client.close();
  });

  it('restores presence subscriptions and away after a reconnect, emitting the fresh state', async () => {
    const client = newClient();
    const presence: string[] = [];
    client.on('presence', (p) => presence.push(`${p.userId}:${p.status}`));
    const sock = await connected(client);
    const info = (userId: string, status: string) => ({
      userId,
      status,
      lastSeen: 1,
      devices: 1,
      gateways: [],
    });
    const sub = client.subscribePresence(['bob', 'carol']);
    sock.reply('subscribePresence', {
      op: 'result',
      data: { users: [info('bob', 'online'), info('carol', 'away')] },
    });
    assert.deepEqual(
      (await sub).map((u) => u.status),
      ['online', 'away'],
    );
    const away = client.setAway(true);
    sock.reply('setAway', { op: 'result', data: { ok: true } });
    await away;
    const unsub = client.unsubscribePresence(['carol']);
    assert.deepEqual(sock.sentOps('unsubscribePresence')[0]?.userIds, ['carol']);
    sock.reply('unsubscribePresence', { op: 'result', data: { ok: true } });
    await unsub;
    sock.push({ op: 'presence', userId: 'bob', status: 'away', lastSeen: 2, devices: 1 });
    assert.deepEqual(presence, ['bob:away']);

    sock.drop();
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    const next = FakeSocket.last();
    next.accept();
    assert.deepEqual(next.sentOps('setAway')[0]?.away, true);
    assert.deepEqual(next.sentOps('subscribePresence')[0]?.userIds, ['bob']);
    next.reply('subscribePresence', { op: 'result', data: { users: [info('bob', 'offline')] } });
    await eventually(() => assert.deepEqual(presence, ['bob:away', 'bob:offline']));
    await client.close();
  });

  it('holds a request made while disconnected until connected, and unwraps results', async () => {
    const client = newClient();
    const open = client.openDirect('bob');
    const sock = await connected(client);
    const conversation = {
      id: 'dm:alice:bob',
      kind: 'direct',
      title: null,
      createdBy: 'alice',
      createdAt: 1,
      members: ['alice', 'bob'],
    };
    sock.reply('openDirect', { op: 'result', data: { conversation } });
    assert.deepEqual(await open, conversation);
    const read = client.markRead('dm:alice:bob', '42');
    assert.deepEqual(sock.sentOps('read')[0]?.messageId, '42');
    sock.reply('read', { op: 'result', data: { ok: true } });
    await read;
    await client.close();
    await assert.rejects(client.presence(['bob']), (err: ChatClientError) => err.code === 'closed');
  });
});

describe('ChatClient outbox', () => {
  it('sends one message per conversation at a time, in order, others in parallel', async () => {
    const client = newClient();
    const sock = await connected(client);
    const a1 = client.send('dm:alice:bob', 'one');
    const a2 = client.send('dm:alice:bob', 'two');
    const b1 = client.send('g:1', 'other');
    await eventually(() => assert.equal(sock.sentOps('send').length, 2));
    const [s1, s2] = sock.sentOps('send');
    assert.equal(s1!.body, 'one');
    assert.equal(s2!.body, 'other');
    assert.match(String(s1!.clientMsgId), /^c[0-9a-f]{32}$/);
    assert.notEqual(s1!.clientMsgId, s2!.clientMsgId);
    sock.push({ id: s1!.id, ...sentReply('100', 'dm:alice:bob') });
    assert.deepEqual(await a1, {
      clientMsgId: s1!.clientMsgId,
      messageId: '100',
      conversationId: 'dm:alice:bob',
      createdAt: 2,
      duplicate: false,
    });
    await eventually(() => assert.equal(sock.sentOps('send').length, 3));
    const s3 = sock.sentOps('send')[2]!;
    assert.equal(s3.body, 'two');
    sock.push({ id: s3.id, ...sentReply('101', 'dm:alice:bob') });
    sock.push({ id: s2!.id, ...sentReply('102', 'g:1') });
    assert.equal((await a2).messageId, '101');
    assert.equal((await b1).messageId, '102');
    assert.equal(client.outboxSize, 0);
    // Our own message replayed later is not news.
    const mine: string[] = [];
    client.on('message', (m) => mine.push(m.id));
    sock.push({ op: 'message', message: msg('100'), replay: false });
    assert.deepEqual(mine, []);
    await client.close();
  });

  it('keeps sends made while offline, and resends the unacked one with the same clientMsgId', async () => {
    const storage = new MemoryClientStorage();
    const client = newClient({ storage });
    const sentEvents: string[] = [];
    client.on('sent', (s) => sentEvents.push(s.messageId));
    const p1 = client.send('dm:alice:bob', 'queued offline');
    await tick();
    assert.equal((await storage.loadOutbox()).length, 1, 'persisted before it goes out');
    const first = await connected(client);
    const frame = first.sentOps('send')[0]!;
    assert.equal(frame.body, 'queued offline');
    first.drop(); // before the ack
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    const second = FakeSocket.last();
    second.accept();
    await eventually(() => assert.equal(second.sentOps('send').length, 1));
    const resend = second.sentOps('send')[0]!;
    assert.equal(resend.clientMsgId, frame.clientMsgId);
    assert.equal(frame.attempt, 1, 'the first transmission says so');
    assert.equal(resend.attempt, 2, 'a resend does not claim to be the first');
    second.push({ id: resend.id, ...sentReply('7', 'dm:alice:bob', true) });
    // A late reply to the first attempt on the old socket must not count twice.
    first.push({ id: frame.id, ...sentReply('7', 'dm:alice:bob') });
    assert.equal((await p1).messageId, '7');
    assert.deepEqual(sentEvents, ['7']);
    assert.deepEqual(await storage.loadOutbox(), []);
    await client.close();
  });

  it('retries retryable errors with the same clientMsgId and drops messages the server refuses', async () => {
    const client = newClient();
    const sock = await connected(client);
    const ok = client.send('g:1', 'later');
    const refused = client.send('g:2', 'nope');
    await eventually(() => assert.equal(sock.sentOps('send').length, 2));
    const [a, b] = sock.sentOps('send');
    sock.push({ op: 'error', id: a!.id, code: 'unavailable', message: 'store down' });
    sock.push({
      op: 'error',
      id: b!.id,
      code: 'not_found',
      message: 'no such conversation',
      details: { conversationId: 'g:2' },
    });
    await assert.rejects(
      refused,
      (err: ChatClientError) => err.code === 'not_found' && err.details?.conversationId === 'g:2',
    );
    await eventually(() => assert.equal(sock.sentOps('send').length, 3));
    const retry = sock.sentOps('send')[2]!;
    assert.equal(retry.clientMsgId, a!.clientMsgId);
    assert.notEqual(retry.id, a!.id);
    sock.push({ id: retry.id, ...sentReply('50', 'g:1') });
    assert.equal((await ok).messageId, '50');
    assert.equal(client.outboxSize, 0);
    await client.close();
  });

  it('resends after a send timeout; whichever reply comes first completes it once', async () => {
    const client = newClient({ requestTimeoutMs: 50 });
    const sock = await connected(client);
    const p = client.send('g:1', 'slow');
    await eventually(() => assert.equal(sock.sentOps('send').length, 2), { timeoutMs: 1000 });
    const [first, second] = sock.sentOps('send');
    assert.equal(first!.clientMsgId, second!.clientMsgId);
    sock.push({ id: first!.id, ...sentReply('60', 'g:1') });
    sock.push({ id: second!.id, ...sentReply('60', 'g:1', true) });
    assert.deepEqual(await p, {
      clientMsgId: first!.clientMsgId,
      messageId: '60',
      conversationId: 'g:1',
      createdAt: 2,
      duplicate: false,
    });
    await client.close();
  });

  it('keeps the newest position from live frames and synced, not from replayed frames', async () => {
    const storage = new MemoryClientStorage();
    const client = newClient({ storage });
    const sock = await connected(client, { sync: false });
    sock.push({ op: 'message', message: msg('3'), replay: true });
    sock.push({ op: 'message', message: msg('4'), replay: false, pos: 'v1.test.900' });
    assert.equal(client.position, null, 'nothing taken while the replay runs');
    sock.push({ op: 'synced', id: null, count: 1, lastId: '3', truncated: false, position: 'v1.test.1000' });
    assert.equal(client.position, 'v1.test.1000');
    sock.push({ op: 'message', message: msg('5'), replay: false, pos: 'v1.test.1200' });
    // The newest received, not the largest: the server's lookback absorbs small inversions.
    sock.push({ op: 'message', message: msg('6'), replay: false, pos: 'v1.test.1190' });
    sock.push({ op: 'message', message: msg('7'), replay: false, pos: 'not a position' });
    assert.equal(client.position, 'v1.test.1190');
    await eventually(async () => assert.equal(await storage.loadPosition(), 'v1.test.1190'));
    const syncing = client.sync();
    await eventually(() => assert.equal(sock.sentOps('sync').length, 1));
    assert.equal(sock.sentOps('sync')[0]!.position, 'v1.test.1190');
    assert.equal(sock.sentOps('sync')[0]!.since, '7');
    sock.reply('sync', { op: 'synced', count: 0, lastId: null, truncated: false, position: 'v1.test.1300' });
    await syncing;
    assert.equal(client.position, 'v1.test.1300');
    sock.drop();
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    assert.equal(FakeSocket.last().query.get('resume'), 'v1.test.1300');
    assert.equal(FakeSocket.last().query.get('since'), '7', 'since too, for servers without positions');
    await client.close();
    // A new client on the same storage resumes from the saved position.
    const again = newClient({ storage });
    await connected(again);
    assert.equal(FakeSocket.last().query.get('resume'), 'v1.test.1300');
    await again.close();
  });

  it('continues a truncated replay from its position, ignoring live positions until it ends', async () => {
    const client = newClient();
    const sock = await connected(client, { sync: false });
    sock.push({ op: 'message', message: msg('1'), replay: true });
    sock.push({
      op: 'synced',
      id: null,
      count: 1,
      lastId: '1',
      truncated: true,
      position: 'v1.test.500.1',
    });
    await eventually(() => assert.equal(sock.sentOps('sync').length, 1));
    assert.equal(sock.sentOps('sync')[0]!.position, 'v1.test.500.1');
    assert.equal(client.position, 'v1.test.500.1');
    // Held live frames flushed before the continuation's synced: their pos would skip its rest.
    sock.push({ op: 'message', message: msg('9'), replay: false, pos: 'v1.test.700' });
    assert.equal(client.position, 'v1.test.500.1');
    sock.push({ op: 'message', message: msg('2'), replay: true });
    sock.reply('sync', { op: 'synced', count: 1, lastId: '2', truncated: false, position: 'v1.test.800' });
    await eventually(() => assert.equal(client.position, 'v1.test.800'));
    sock.push({ op: 'message', message: msg('10'), replay: false, pos: 'v1.test.900' });
    assert.equal(client.position, 'v1.test.900');
    await client.close();
  });

  it('keeps the old position when the connection drops during a replay', async () => {
    const client = newClient();
    const sock = await connected(client);
    sock.push({ op: 'message', message: msg('1'), replay: false, pos: 'v1.test.100' });
    const pending = client.sync().catch((err: unknown) => err);
    await eventually(() => assert.equal(sock.sentOps('sync').length, 1));
    sock.push({ op: 'message', message: msg('2'), replay: false, pos: 'v1.test.200' });
    sock.drop();
    await pending;
    await eventually(() => assert.equal(FakeSocket.instances.length, 2));
    assert.equal(FakeSocket.last().query.get('resume'), 'v1.test.100');
    await client.close();
  });

  it('reads the conversation list after each connect replay', async () => {
    const client = newClient({ refreshConversations: true });
    const lists: unknown[] = [];
    client.on('conversations', (l) => lists.push(l));
    const sock = await connected(client);
    await eventually(() => assert.equal(sock.sentOps('listConversations').length, 1));
    sock.reply('listConversations', { op: 'result', data: { conversations: [] } });
    await eventually(() => assert.deepEqual(lists, [[]]));
    await client.close();
  });

  it('restores the outbox and lastSeenId from storage', async () => {
    const storage = new MemoryClientStorage();
    await storage.saveLastSeenId('77');
    await storage.putOutbox({ clientMsgId: 'old-2', conversationId: 'g:1', body: 'b', queuedAt: 20, seq: 1 });
    await storage.putOutbox({ clientMsgId: 'old-1', conversationId: 'g:1', body: 'a', queuedAt: 10, seq: 0 });
    const client = newClient({ storage });
    const sent: string[] = [];
    client.on('sent', (s) => sent.push(s.clientMsgId));
    const sock = await connected(client);
    assert.equal(sock.query.get('since'), '77');
    await eventually(() => assert.equal(sock.sentOps('send').length, 1));
    assert.equal(sock.sentOps('send')[0]!.clientMsgId, 'old-1');
    // An earlier session may have sent it before it stopped: never `attempt: 1`.
    assert.equal(sock.sentOps('send')[0]!.attempt, 2);
    sock.reply('send', sentReply('80', 'g:1', true));
    await eventually(() => assert.equal(sock.sentOps('send').length, 2));
    assert.equal(sock.sentOps('send')[1]!.clientMsgId, 'old-2');
    sock.reply('send', sentReply('81', 'g:1', true));
    await eventually(() => assert.deepEqual(sent, ['old-1', 'old-2']));
    sock.push({ op: 'message', message: msg('90'), replay: false });
    await eventually(async () => assert.equal(await storage.loadLastSeenId(), '90'));
    await client.close();
  });

  it('refuses a body over the limit locally once the limit is known, and rejects waiters on close', async () => {
    const client = newClient();
    const sock = await connected(client);
    await assert.rejects(
      client.send('g:1', 'x'.repeat(1001)),
      (err: ChatClientError) => err.code === 'invalid_field',
    );
    const pending = client.send('g:1', 'never acked');
    await eventually(() => assert.equal(sock.sentOps('send').length, 1));
    await client.close();
    await assert.rejects(pending, (err: ChatClientError) => err.code === 'closed');
    assert.equal(client.outboxSize, 1, 'kept for the next connect');
    await assert.rejects(client.send('g:1', 'after close'), (err: ChatClientError) => err.code === 'closed');
  });
});
