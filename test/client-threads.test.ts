/**
 * Replies and threads in the client SDK: `send` with `replyTo`, replies delivered with their
 * quote, the `thread` event once per larger root count (live, and for a device catching up),
 * `thread()` pages, and the rule that drops repeated and smaller counts (`ThreadCounts`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ChatClient,
  ChatClientError,
  ThreadCounts,
  type ThreadEvent,
  type WireMessage,
} from '../src/client/index.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway } from './helpers/gateway.ts';
import { onCleanup, sdkClient, sdkUser } from './helpers/sdk-clients.ts';

const user = sdkUser;
const client = sdkClient;

function watch(c: ChatClient) {
  const messages = new Map<string, WireMessage>();
  const threads: ThreadEvent[] = [];
  c.on('message', (m) => messages.set(m.id, m));
  c.on('thread', (e) => threads.push(e));
  return { messages, threads };
}

describe('ThreadCounts', () => {
  it('tells each larger count once and drops repeats and smaller ones', () => {
    const counts = new ThreadCounts();
    const t = (replyCount: number, lastReplyId: string) => ({ replyCount, lastReplyId, lastReplyAt: 1 });
    assert.ok(counts.apply('g:1', '10', t(1, '11')));
    assert.equal(counts.apply('g:1', '10', t(1, '11')), null, 'a repeat');
    assert.ok(counts.apply('g:1', '10', t(3, '14')));
    assert.equal(counts.apply('g:1', '10', t(2, '13')), null, 'a smaller count, arriving late');
    const reply: WireMessage = {
      id: '15',
      conversationId: 'g:1',
      senderId: 'b',
      clientMsgId: null,
      body: 'r',
      createdAt: 1,
      replyTo: { id: '10', senderId: 'a', preview: 'q', deleted: false },
      threadRoot: '10',
      rootThread: t(4, '15'),
    };
    assert.deepEqual(counts.fromReply(reply), { conversationId: 'g:1', rootId: '10', thread: t(4, '15') });
    assert.equal(counts.fromReply({ ...reply, rootThread: t(4, '15') }), null);
  });
});

describe('ChatClient replies and threads', () => {
  it('replies with a quote, tells thread counts live and after catch-up, pages a thread', async () => {
    const gw = await startTestGateway();
    onCleanup(() => gw.stop());
    const [alice, bob, carol] = [user('alice'), user('bob'), user('carol')];
    const a = client(gw.url, alice);
    const b = client(gw.url, bob);
    const c = client(gw.url, carol);
    const [seenA, , seenC] = [watch(a), watch(b), watch(c)];
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    const conv = (await a.createGroup('threads', [bob, carol])).id;
    const { messageId: root } = await a.send(conv, 'lunch?');
    await eventually(() => assert.ok(seenC.messages.has(root)));
    await c.close();

    const r1 = await b.send(conv, 'yes', { replyTo: root });
    // The sender learns the count from the ack (it gets no message frame of its own reply).
    assert.equal(r1.threadRoot, root);
    assert.equal(r1.rootThread?.replyCount, 1);
    await eventually(() => assert.equal(seenA.threads.at(-1)?.thread.replyCount, 1));
    const got = seenA.messages.get(r1.messageId);
    assert.deepEqual(got?.replyTo, { id: root, senderId: alice, preview: 'lunch?', deleted: false });
    assert.equal(got?.threadRoot, root);
    const r2 = await a.send(conv, 'where?', { replyTo: r1.messageId });
    await b.send(conv, 'the usual', { replyTo: root });
    await assert.rejects(b.send(conv, 'x', { replyTo: '12345' }), (e: unknown) => {
      return e instanceof ChatClientError && e.code === 'not_found';
    });

    // Carol catches up: the root's final count, once.
    await c.connect();
    await eventually(() => assert.equal(seenC.threads.at(-1)?.thread.replyCount, 3));
    assert.equal(seenC.messages.get(r2.messageId)?.replyTo?.preview, 'yes');
    assert.deepEqual(
      seenC.threads.map((e) => e.rootId),
      seenC.threads.map(() => root),
    );

    const page = await c.thread(conv, root, { limit: 2 });
    assert.equal(page.root.thread?.replyCount, 3);
    assert.equal(page.messages.length, 2);
    assert.equal(page.hasMore, true);
    const rest = await c.thread(conv, root, { before: page.messages[1]!.id });
    assert.deepEqual(
      rest.messages.map((m) => m.id),
      [r1.messageId],
    );
  });
});
