import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BUCKET_MS } from '../src/storage/cassandra/rows.ts';
import { mapLimit } from '../src/storage/common.ts';
import {
  type Conversation,
  MAX_HISTORY_LIMIT,
  type Storage,
  type StoredMessage,
  UNREAD_CAP,
} from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';
import { changesContract } from './storage-changes.contract.ts';
import { lateIndexContract, recordBeforeReopen } from './storage-late.contract.ts';
import { searchContract } from './storage-search.contract.ts';
import { threadsContract } from './storage-threads.contract.ts';

/** What a storage implementation under test provides. */
export interface StorageFixture {
  /** A fresh store, isolated from every other fixture, not yet `init()`ed. */
  storage: Storage;
  /**
   * A new instance over the same data (same directory, same keyspace with a new client), not
   * yet `init()`ed. Called after the previous instance was closed.
   */
  reopen(): Promise<Storage>;
  /** Removes the data (directory, keyspace). Called after the current instance was closed. */
  cleanup(): Promise<void>;
}

const DAY = 24 * 3600 * 1000;
/** A fixed point well after the snowflake epoch; tests place messages relative to it. */
const BASE = EPOCH_MS + 50 * DAY;

let seq = 0;
/** An id no other test (or earlier run against the same keyspace) uses. */
function uid(label: string): string {
  seq++;
  return `${label}-${seq}-${randomBytes(3).toString('hex')}`;
}

/** The id of the `n`th message minted in millisecond `ms`. */
function idAt(ms: number, n = 0): bigint {
  return snowflakeFloor(ms) + BigInt(n);
}

function msg(
  conversationId: string,
  senderId: string,
  ms: number,
  opts: { n?: number; body?: string; clientMsgId?: string } = {},
): StoredMessage {
  return {
    conversationId,
    messageId: idAt(ms, opts.n ?? 0),
    senderId,
    clientMsgId: opts.clientMsgId ?? null,
    body: opts.body ?? `hello at ${ms}+${opts.n ?? 0}`,
    createdAt: ms,
  };
}

function conv(id: string, createdAt = BASE - DAY, over: Partial<Conversation> = {}): Conversation {
  return { id, kind: 'group', title: `title of ${id}`, createdBy: 'creator', createdAt, ...over };
}

const ids = (messages: readonly StoredMessage[]) => messages.map((m) => m.messageId);
const sorted = (values: readonly string[]) => [...values].sort();

/**
 * The behaviour every `Storage` implementation must have. Call at top level of a test file:
 * `storageContract('embedded', async () => ({ storage, reopen, cleanup }))`.
 */
export function storageContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`storage contract: ${name}`, () => {
    let fixture: StorageFixture;
    let s: Storage;

    before(async () => {
      fixture = await make();
      s = fixture.storage;
      await s.init();
    });
    after(async () => {
      await s?.close();
      await fixture?.cleanup();
    });

    /** A conversation with the given members, created through the store. */
    async function group(members: string[], createdAt = BASE - DAY): Promise<Conversation> {
      return s.createConversation(conv(uid('conv'), createdAt), members);
    }

    it('init is idempotent and ping answers', async () => {
      await s.init();
      await s.ping();
    });

    describe('conversations and membership', () => {
      it('createConversation is idempotent on id and leaves members alone the second time', async () => {
        const c = conv(uid('conv'), BASE, { kind: 'direct', title: null });
        assert.deepEqual(await s.createConversation(c, ['alice', 'bob', 'alice']), c);
        const again = await s.createConversation({ ...c, title: 'changed', createdBy: 'mallory' }, [
          'mallory',
        ]);
        assert.deepEqual(again, c);
        assert.deepEqual(await s.getConversation(c.id), c);
        assert.deepEqual(sorted(await s.listMembers(c.id)), ['alice', 'bob']);
        assert.equal(await s.isMember(c.id, 'mallory'), false);
        assert.equal(await s.getConversation(uid('missing')), null);
      });

      it('adds and removes members in both directions', async () => {
        const [u1, u2, u3] = [uid('u'), uid('u'), uid('u')];
        const a = await group([u1]);
        const b = await group([u1, u2]);
        await s.addMembers(a.id, [u2, u3, u3]);
        assert.deepEqual(sorted(await s.listMembers(a.id)), sorted([u1, u2, u3]));
        assert.equal(await s.isMember(a.id, u3), true);
        assert.deepEqual(sorted(await s.listUserConversationIds(u2)), sorted([a.id, b.id]));

        await s.removeMembers(a.id, [u2, uid('never-a-member')]);
        assert.equal(await s.isMember(a.id, u2), false);
        assert.deepEqual(sorted(await s.listMembers(a.id)), sorted([u1, u3]));
        assert.deepEqual(await s.listUserConversationIds(u2), [b.id]);
        assert.deepEqual(await s.listUserConversationIds(uid('nobody')), []);
        await s.addMembers(a.id, []);
        await s.removeMembers(a.id, []);
      });
    });

    describe('messages', () => {
      it('stores a message and reads it back by id', async () => {
        const c = await group(['a', 'b']);
        const m = msg(c.id, 'a', BASE, { body: 'héllo ✓ 👋' });
        assert.deepEqual(await s.appendMessage(m), { message: m, duplicate: false });
        assert.deepEqual(await s.getMessage(c.id, m.messageId), m);
        assert.equal(await s.getMessage(c.id, m.messageId + 1n), null);
        assert.equal(await s.getMessage(uid('other'), m.messageId), null);
      });

      it('dedups (senderId, clientMsgId): the resend returns the original and stores nothing', async () => {
        const c = await group(['a', 'b']);
        const first = msg(c.id, 'a', BASE, { clientMsgId: 'cm-1', body: 'first' });
        assert.deepEqual(await s.appendMessage(first), { message: first, duplicate: false });
        // The resend after a reconnect carries a freshly minted id.
        const resend = msg(c.id, 'a', BASE + 5000, { clientMsgId: 'cm-1', body: 'first' });
        assert.deepEqual(await s.appendMessage(resend), { message: first, duplicate: true });
        assert.equal(await s.getMessage(c.id, resend.messageId), null);
        // Same client id from another sender is a different message.
        const other = msg(c.id, 'b', BASE + 6000, { clientMsgId: 'cm-1', body: 'mine' });
        assert.deepEqual(await s.appendMessage(other), { message: other, duplicate: false });
        assert.deepEqual(ids(await s.getHistory(c.id, { limit: 10 })), [other.messageId, first.messageId]);
      });

      it('dedups a first attempt racing its resends, and resends after it was stored', async () => {
        const c = await group(['a']);
        const first = msg(c.id, 'a', BASE + 300, { clientMsgId: 'fa-1', body: 'first' });
        const racing = Array.from({ length: 4 }, (_, i) =>
          msg(c.id, 'a', BASE + 301 + i, { clientMsgId: 'fa-1', body: 'first' }),
        );
        const results = await Promise.all([
          s.appendMessage(first, { firstAttempt: true }),
          ...racing.map((m) => s.appendMessage(m)),
        ]);
        const winner = results[0]?.message.messageId;
        for (const r of results) assert.equal(r.message.messageId, winner);
        assert.equal(results.filter((r) => !r.duplicate).length >= 1, true);
        const later = msg(c.id, 'a', BASE + 9000, { clientMsgId: 'fa-1', body: 'first' });
        assert.equal((await s.appendMessage(later)).message.messageId, winner);
        assert.deepEqual(ids(await s.getHistory(c.id, { limit: 10 })), [winner]);
      });

      it('stores replicas idempotently under their id and records their client id', async () => {
        const c = await group(['a', 'b']);
        const m = msg(c.id, 'a', BASE + 100, { clientMsgId: 'rep-1', body: 'from another region' });
        await s.putReplica(m);
        await s.putReplica(m);
        assert.deepEqual(await s.getMessage(c.id, m.messageId), m);
        assert.deepEqual(ids(await s.getHistory(c.id, { limit: 10 })), [m.messageId]);
        // A resend of the same client message to this region resolves to the replica.
        const resend = msg(c.id, 'a', BASE + 200, { clientMsgId: 'rep-1', body: 'from another region' });
        assert.deepEqual(await s.appendMessage(resend), { message: m, duplicate: true });
      });

      it('dedups concurrent resends: ten parallel appends store exactly one message', async () => {
        const c = await group(['a']);
        const attempts = Array.from({ length: 10 }, (_, i) =>
          msg(c.id, 'a', BASE + i, { clientMsgId: 'same', body: 'racing' }),
        );
        const results = await Promise.all(attempts.map((m) => s.appendMessage(m)));
        const winner = results[0]?.message.messageId;
        assert.ok(winner !== undefined);
        for (const r of results) assert.equal(r.message.messageId, winner);
        assert.ok(
          results.some((r) => !r.duplicate),
          'one attempt stored the message',
        );
        assert.ok(results.filter((r) => r.duplicate).length >= 1);
        const history = await s.getHistory(c.id, { limit: 50 });
        assert.deepEqual(ids(history), [winner]);
        assert.equal(history[0]?.body, 'racing');
      });
    });

    describe('history', () => {
      // Messages in several 10-day buckets with an empty stretch of 7 buckets in the middle
      // (more than an implementation reads ahead), several in one millisecond, and a few in the
      // same bucket. Oldest first.
      const created = BASE - DAY;
      const times: number[] = [];
      for (let i = 0; i < 12; i++) times.push(BASE + i * (BUCKET_MS / 3));
      for (let i = 0; i < 6; i++) times.push(BASE + 12 * BUCKET_MS + i * (BUCKET_MS / 2));
      let c: Conversation;
      let all: StoredMessage[];

      before(async () => {
        c = await s.createConversation(conv(uid('hist'), created), ['a', 'b']);
        all = [];
        for (const [i, t] of times.entries()) {
          all.push(msg(c.id, i % 2 ? 'a' : 'b', t, { n: 0 }));
          if (i % 5 === 0) all.push(msg(c.id, 'a', t, { n: 1 }), msg(c.id, 'b', t, { n: 2 }));
        }
        // Store out of order: history must not depend on insertion order.
        await mapLimit([...all].reverse(), 8, (m) => s.appendMessage(m));
      });

      it('returns the newest first, limited', async () => {
        const newestFirst = [...all].reverse();
        assert.deepEqual(await s.getHistory(c.id, { limit: 5 }), newestFirst.slice(0, 5));
        assert.deepEqual(await s.getHistory(c.id, { limit: 1000 }), newestFirst);
        assert.deepEqual(await s.getHistory(c.id, { limit: 0 }), []);
      });

      it('pages backwards with `before` across bucket boundaries and gaps', async () => {
        const seen: StoredMessage[] = [];
        let cursor: bigint | undefined;
        for (;;) {
          const page = await s.getHistory(c.id, {
            limit: 4,
            ...(cursor !== undefined ? { before: cursor } : {}),
          });
          if (page.length === 0) break;
          assert.ok(page.length <= 4);
          seen.push(...page);
          cursor = page[page.length - 1]?.messageId;
        }
        assert.deepEqual(ids(seen), ids([...all].reverse()));
        const pivot = all[10];
        assert.ok(pivot);
        assert.deepEqual(ids(await s.getHistory(c.id, { before: pivot.messageId, limit: 3 })), [
          all[9]?.messageId,
          all[8]?.messageId,
          all[7]?.messageId,
        ]);
        // `before` between two stored ids, and before the oldest.
        assert.deepEqual(ids(await s.getHistory(c.id, { before: pivot.messageId + 1n, limit: 1 })), [
          pivot.messageId,
        ]);
        assert.deepEqual(await s.getHistory(c.id, { before: all[0]?.messageId ?? 0n, limit: 10 }), []);
      });

      it('pages forwards with `after`, oldest first, across bucket boundaries and gaps', async () => {
        const seen: StoredMessage[] = [];
        let cursor = 0n;
        for (;;) {
          const page = await s.getHistory(c.id, { after: cursor, limit: 5 });
          if (page.length === 0) break;
          seen.push(...page);
          cursor = page[page.length - 1]?.messageId ?? cursor;
        }
        assert.deepEqual(seen, all);
        const pivot = all[3];
        assert.ok(pivot);
        assert.deepEqual(await s.getHistory(c.id, { after: pivot.messageId, limit: 2 }), all.slice(4, 6));
        assert.deepEqual(await s.getHistory(c.id, { after: all.at(-1)?.messageId ?? 0n, limit: 10 }), []);
      });

      it('reads every message by id, whatever its bucket', async () => {
        for (const m of all) assert.deepEqual(await s.getMessage(c.id, m.messageId), m);
      });

      it('is empty for an unknown conversation and rejects before+after together', async () => {
        assert.deepEqual(await s.getHistory(uid('nothing'), { limit: 10 }), []);
        await assert.rejects(s.getHistory(c.id, { before: 10n, after: 1n, limit: 1 }), RangeError);
      });
    });

    describe('read markers and unread counts', () => {
      it('markRead only moves forward, also when calls race', async () => {
        const c = await group(['a']);
        assert.equal(await s.getReadMarker('a', c.id), null);
        await s.markRead('a', c.id, idAt(BASE, 10));
        await s.markRead('a', c.id, idAt(BASE, 5));
        assert.equal(await s.getReadMarker('a', c.id), idAt(BASE, 10));
        await s.markRead('a', c.id, idAt(BASE + 1000));
        assert.equal(await s.getReadMarker('a', c.id), idAt(BASE + 1000));
        const racing = Array.from({ length: 20 }, (_, i) => idAt(BASE + 2000 + ((i * 7) % 20) * 100));
        await Promise.all(racing.map((id) => s.markRead('a', c.id, id)));
        assert.equal(await s.getReadMarker('a', c.id), idAt(BASE + 2000 + 19 * 100));
        assert.equal(await s.getReadMarker('b', c.id), null);
      });

      it('counts messages after the marker, not sent by the user, across buckets', async () => {
        const [a, b] = [uid('a'), uid('b')];
        const c = await group([a, b]);
        const fromB = [0, 1, 2].map((i) => msg(c.id, b, BASE + i * BUCKET_MS + 100));
        const fromA = [0, 1].map((i) => msg(c.id, a, BASE + i * BUCKET_MS + 200));
        for (const m of [...fromB, ...fromA]) await s.appendMessage(m);
        const summary = async (user: string) => {
          const found = (await s.listUserConversations(user)).find((x) => x.conversation.id === c.id);
          assert.ok(found);
          return found;
        };
        assert.equal((await summary(a)).unreadCount, 3);
        assert.equal((await summary(a)).lastReadId, null);
        assert.equal((await summary(b)).unreadCount, 2);
        await s.markRead(a, c.id, fromB[1]?.messageId ?? 0n);
        assert.equal((await summary(a)).unreadCount, 1);
        assert.equal((await summary(a)).lastReadId, fromB[1]?.messageId);
        await s.markRead(a, c.id, fromB[2]?.messageId ?? 0n);
        assert.equal((await summary(a)).unreadCount, 0);
      });

      it('caps unread counts and history pages', async () => {
        const [a, b] = [uid('a'), uid('b')];
        const c = await group([a, b]);
        const many = Array.from({ length: UNREAD_CAP + 5 }, (_, i) => msg(c.id, b, BASE + i));
        await mapLimit(many, 32, (m) => s.appendMessage(m));
        const [forA] = await s.listUserConversations(a);
        assert.equal(forA?.unreadCount, UNREAD_CAP);
        const [forB] = await s.listUserConversations(b);
        assert.equal(forB?.unreadCount, 0, "a user's own messages are never unread");
        const page = await s.getHistory(c.id, { limit: MAX_HISTORY_LIMIT * 3 });
        assert.equal(page.length, MAX_HISTORY_LIMIT);
        assert.deepEqual(ids(page), ids(many.slice(-MAX_HISTORY_LIMIT).reverse()));
      });
    });

    it('lists a user’s conversations by last activity, with the last message', async () => {
      const u = uid('u');
      const quiet = await group([u, 'x'], BASE + 3 * DAY);
      const older = await group([u, 'x'], BASE);
      const busy = await group([u, 'x'], BASE);
      const left = await group([u, 'x'], BASE + 9 * DAY);
      const olderLast = msg(older.id, 'x', BASE + 2 * DAY);
      await s.appendMessage(msg(older.id, u, BASE + DAY));
      await s.appendMessage(olderLast);
      await s.appendMessage(msg(busy.id, 'x', BASE + DAY));
      const busyLast = msg(busy.id, u, BASE + 15 * DAY, { clientMsgId: 'k' });
      await s.appendMessage(busyLast);
      await s.removeMembers(left.id, [u]);

      const list = await s.listUserConversations(u);
      assert.deepEqual(
        list.map((x) => x.conversation.id),
        [busy.id, quiet.id, older.id],
      );
      assert.deepEqual(list[0], {
        conversation: busy,
        lastMessage: busyLast,
        unreadCount: 1,
        lastReadId: null,
      });
      assert.deepEqual(list[1], { conversation: quiet, lastMessage: null, unreadCount: 0, lastReadId: null });
      assert.deepEqual(list[2]?.lastMessage, olderLast);
      assert.deepEqual(await s.listUserConversations(uid('nobody')), []);
    });

    it('queues offline messages per recipient: idempotent, ordered, paged, acked', async () => {
      const [u, other] = [uid('u'), uid('u')];
      const c = await group([u, other]);
      const m1 = msg(c.id, other, BASE + BUCKET_MS, { clientMsgId: 'c1' });
      const m2 = msg(c.id, other, BASE + 2 * BUCKET_MS);
      const m3 = msg(c.id, u, BASE + 3 * BUCKET_MS, { clientMsgId: 'c3' });
      await s.enqueueOffline(u, [m3, m1]);
      await s.enqueueOffline(u, [m2, m1]);
      await s.enqueueOffline(u, []);
      assert.equal(await s.countOffline(u), 3);
      assert.deepEqual(await s.listOffline(u, 10), [m1, m2, m3]);
      assert.deepEqual(await s.listOffline(u, 2), [m1, m2]);
      assert.deepEqual(await s.listOffline(u, 10, m1.messageId), [m2, m3]);
      assert.deepEqual(await s.listOffline(u, 10, m3.messageId), []);
      assert.deepEqual(await s.listOffline(u, 0), []);
      assert.equal(await s.countOffline(other), 0);

      await s.ackOffline(u, [m1.messageId, m1.messageId + 12345n]);
      assert.equal(await s.countOffline(u), 2);
      assert.deepEqual(await s.listOffline(u, 10), [m2, m3]);
      await s.ackOffline(u, [m2.messageId, m3.messageId]);
      await s.ackOffline(u, []);
      assert.equal(await s.countOffline(u), 0);
      assert.deepEqual(await s.listOffline(u, 10), []);
    });

    lateIndexContract(
      () => s,
      async () => (await group(['a', 'b'])).id,
    );
    changesContract(
      () => s,
      async () => (await group(['alice', 'bob'])).id,
    );

    threadsContract(
      () => s,
      async () => (await group(['alice', 'bob'])).id,
    );

    searchContract(() => s);

    // Last: it swaps `s` for a reopened instance.
    it('keeps everything across close() and reopen', async () => {
      const [a, b] = [uid('a'), uid('b')];
      const c = await group([a, b]);
      const m = msg(c.id, a, BASE + 3 * BUCKET_MS, { clientMsgId: 'durable' });
      await s.appendMessage(m);
      await s.markRead(b, c.id, m.messageId);
      await s.enqueueOffline(b, [m]);
      const checkLate = await recordBeforeReopen(s, c.id);

      await s.close();
      s = await fixture.reopen();
      await s.init();

      assert.deepEqual(await s.getConversation(c.id), c);
      assert.deepEqual(sorted(await s.listMembers(c.id)), sorted([a, b]));
      assert.deepEqual(await s.listUserConversationIds(a), [c.id]);
      assert.deepEqual(await s.getMessage(c.id, m.messageId), m);
      assert.deepEqual(await s.getHistory(c.id, { limit: 10 }), [m]);
      assert.equal(await s.getReadMarker(b, c.id), m.messageId);
      assert.deepEqual(await s.listOffline(b, 10), [m]);
      await checkLate(s);
      const found = await s.searchMessages({ conversationIds: [c.id], terms: ['hello'], limit: 5 });
      assert.deepEqual(found, { messages: [m], nextBefore: null });
      const resend = { ...m, messageId: m.messageId + 99n };
      assert.deepEqual(await s.appendMessage(resend), { message: m, duplicate: true });
    });
  });
}
