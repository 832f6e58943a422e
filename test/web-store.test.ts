/**
 * The web app's state (src/web/ui/chat/store.ts) and its formatting helpers, which have no DOM and
 * run on Node.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WireMessage } from '../src/client/index.ts';
import { reactedBy } from '../src/web/ui/chat/format.ts';
import { ChatStore, directPeer, quoteOf } from '../src/web/ui/chat/store.ts';

const DM = 'dm:alice:bob';
let seq = 100;
const msg = (senderId: string, body: string, conversationId = DM): WireMessage => ({
  id: String(7_300_000_000_000_000n + BigInt(seq++)),
  conversationId,
  senderId,
  clientMsgId: null,
  body,
  createdAt: 1_795_000_000_000 + seq,
});

describe('ChatStore', () => {
  it("knows group roles from conversation events: who may delete others' messages", () => {
    const s = new ChatStore('bob');
    const c = s.upsert({
      id: 'g:9',
      kind: 'group',
      title: 'team',
      createdBy: 'alice',
      createdAt: 1,
      members: ['alice', 'bob', 'carol'],
      admins: ['bob'],
    });
    assert.equal(s.roleOf(c, 'alice'), 'owner');
    assert.equal(s.roleOf(c, 'bob'), 'admin');
    assert.equal(s.roleOf(c, 'carol'), 'member');
    assert.ok(s.mayModerate(c, 'carol'));
    assert.ok(!s.mayModerate(c, 'alice'), 'an admin does not moderate the owner');
    s.upsert({
      ...c,
      kind: 'group',
      title: 'team',
      createdBy: 'alice',
      members: ['alice', 'bob'],
      admins: [],
    });
    assert.ok(!s.mayModerate(c, 'carol'), 'demoted');
  });

  it('names direct conversations after the other user', () => {
    const s = new ChatStore('alice');
    assert.equal(directPeer(DM, 'alice'), 'bob');
    assert.equal(directPeer(DM, 'bob'), 'alice');
    assert.equal(directPeer('g:1', 'alice'), null);
    const c = s.conversation(DM);
    assert.equal(s.titleOf(c), 'bob');
    assert.deepEqual(c.members, ['alice', 'bob']);
    assert.deepEqual(s.watchedUsers(), ['bob']);
  });

  it('keeps the larger thread count, quotes an own reply locally, blanks quotes of a deleted parent', () => {
    const s = new ChatStore('alice');
    const root = msg('bob', 'secret question');
    s.addMessage(root);
    const t = (replyCount: number) => ({ replyCount, lastReplyId: root.id, lastReplyAt: 1 });
    s.addMessage({ ...msg('bob', 'r'), threadRoot: root.id, rootThread: t(2), replyTo: quoteOf(root) });
    assert.equal(s.threadOf(root.id)?.replyCount, 2);
    assert.equal(s.applyThread(root.id, t(1)), false, 'a smaller count arriving late');
    s.addPending({
      clientMsgId: 'c1',
      conversationId: DM,
      body: 'mine',
      queuedAt: 1,
      replyTo: root.id,
    });
    const own = s.pendingSent('c1', String(BigInt(root.id) + 50n), 2);
    assert.deepEqual(own?.replyTo, {
      id: root.id,
      senderId: 'bob',
      preview: 'secret question',
      deleted: false,
    });
    assert.equal(own?.threadRoot, root.id);
    const state = { revision: String(BigInt(root.id) + 99n), deleted: true, editedAt: null, editCount: 0 };
    s.applyUpdate({ ...root, body: '', state });
    assert.ok(!JSON.stringify(s.messagesOf(DM)).includes('secret'), JSON.stringify(s.messagesOf(DM)));
    assert.equal(s.messagesOf(DM).filter((m) => m.replyTo?.deleted).length, 2);
  });

  it('applies edits and deletes to the loaded copy and the conversation preview', () => {
    const s = new ChatStore('alice');
    const m = msg('bob', 'secret');
    s.addMessage(m);
    const state = { revision: String(BigInt(m.id) + 1n), deleted: true, editedAt: null, editCount: 0 };
    s.applyUpdate({ ...m, body: '', state });
    assert.equal(s.messagesOf(DM)[0]?.body, '');
    assert.equal(s.conversation(DM).lastMessage?.state?.deleted, true);
    assert.ok(!JSON.stringify(s.messagesOf(DM)).includes('secret'));
  });

  it('counts unread messages from others once, and clears them when read', () => {
    const s = new ChatStore('alice');
    const m1 = msg('bob', 'one');
    const m2 = msg('bob', 'two');
    assert.equal(s.addMessage(m1), true);
    assert.equal(s.addMessage(m1), false, 'a duplicate is not news');
    s.addMessage(m2);
    s.addMessage(msg('alice', 'mine'));
    const c = s.conversation(DM);
    assert.equal(c.unread, 2, 'own messages are never unread');
    assert.equal(s.markRead(DM, c.lastMessage!.id), true);
    assert.equal(c.unread, 0);
    assert.equal(s.markRead(DM, m1.id), false, 'the marker only moves forward');
  });

  it('recounts unread when another device read part of a loaded conversation', () => {
    const s = new ChatStore('alice');
    const ms = [msg('bob', 'a'), msg('bob', 'b'), msg('bob', 'c')];
    s.addHistory(DM, [...ms].reverse(), false, false);
    s.conversation(DM).unread = 3;
    s.receipt(DM, 'alice', ms[0]!.id);
    assert.equal(s.conversation(DM).unread, 2);
  });

  it('applies the server list as the truth for unread counts and titles', () => {
    const s = new ChatStore('alice');
    s.addMessage(msg('carol', 'hi', 'g:9'));
    const last = msg('carol', 'latest', 'g:9');
    s.applySummaries([
      {
        id: 'g:9',
        kind: 'group',
        title: 'team',
        createdBy: 'carol',
        createdAt: 1,
        lastMessage: last,
        unreadCount: 7,
        lastReadId: null,
      },
    ]);
    const c = s.conversation('g:9');
    assert.equal(s.titleOf(c), 'team');
    assert.equal(c.unread, 7);
    assert.equal(c.lastMessage?.id, last.id);
  });

  it('keeps messages in id order across history pages and live ones', () => {
    const s = new ChatStore('alice');
    const older = [msg('bob', '1'), msg('bob', '2')];
    const newer = [msg('bob', '3'), msg('alice', '4')];
    s.addMessage(newer[1]!);
    s.addHistory(DM, [...newer].reverse(), true, false);
    assert.equal(s.oldestLoadedId(DM), newer[0]!.id);
    s.addHistory(DM, [...older].reverse(), false, true);
    assert.deepEqual(
      s.messagesOf(DM).map((m) => m.body),
      ['1', '2', '3', '4'],
    );
    assert.equal(s.conversation(DM).hasMore, false);
  });

  it('turns an acked outbox entry into a message, and shows receipts on it', () => {
    const s = new ChatStore('alice');
    s.addPending({ clientMsgId: 'c1', conversationId: DM, body: 'hello', queuedAt: 5 });
    assert.equal(s.pendingOf(DM).length, 1);
    const m = s.pendingSent('c1', '7300000000000000999', 6);
    assert.equal(m?.body, 'hello');
    assert.equal(s.pendingOf(DM).length, 0);
    const c = s.conversation(DM);
    assert.deepEqual(s.readersOf(c, m!.id), []);
    s.receipt(DM, 'bob', '7300000000000000999');
    assert.deepEqual(s.readersOf(c, m!.id), ['bob']);
    assert.equal(c.unread, 0, 'a receipt from someone else does not touch my unread count');
    s.addPending({ clientMsgId: 'c2', conversationId: DM, body: 'nope', queuedAt: 7 });
    s.pendingFailed('c2', 'forbidden');
    assert.equal(s.pendingOf(DM)[0]?.failed, 'forbidden');
  });

  it('expires typing indicators and ends one when that user sends', () => {
    const s = new ChatStore('alice');
    s.typing(DM, 'bob', 2000);
    s.typing(DM, 'alice', 2000);
    assert.deepEqual(s.typingIn(DM, 1000), ['bob'], 'own typing is not shown');
    assert.equal(s.nextTypingExpiry(), 2000);
    assert.deepEqual(s.typingIn(DM, 2500), []);
    s.typing(DM, 'bob', 9000);
    s.addMessage(msg('bob', 'done typing'));
    assert.deepEqual(s.typingIn(DM, 1000), []);
  });

  it('sorts conversations by latest activity, unsent messages included', () => {
    const s = new ChatStore('alice');
    s.addMessage({ ...msg('bob', 'old'), createdAt: 10 });
    s.addMessage({ ...msg('carol', 'new', 'dm:alice:carol'), createdAt: 20 });
    assert.deepEqual(
      s.sorted().map((c) => c.id),
      ['dm:alice:carol', DM],
    );
    s.addPending({ clientMsgId: 'p', conversationId: DM, body: 'x', queuedAt: 30 });
    assert.equal(s.sorted()[0]?.id, DM);
  });
});

describe('reactedBy', () => {
  it("names who reacted for a chip's title, the user last as 'you'", () => {
    assert.equal(reactedBy(['alice'], 'bob'), 'alice');
    assert.equal(reactedBy(['bob'], 'bob'), 'you');
    assert.equal(reactedBy(['alice', 'bob'], 'bob'), 'alice and you');
    assert.equal(reactedBy(['alice', 'bob', 'carol'], 'alice'), 'bob, carol and you');
  });
});
