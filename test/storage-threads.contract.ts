/**
 * Replies and threads in the storage contract (`addThreadReply`, `getThread`, the reply fields
 * on rows and their copies), run by `storageContract` against every implementation: the fields
 * round-trip through the stream, the offline queue, the late index and replicas; the root's
 * summary counts each reply once however often or in whatever order it is recorded; a root not
 * stored here records nothing; thread pages page like history.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Storage, StoredMessage } from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';

const DAY = 24 * 3600 * 1000;
/** After the contract's conversations were created (49 days after the epoch). */
const AT = EPOCH_MS + 71 * DAY;

function message(conversationId: string, ms: number, body = `body ${ms}`): StoredMessage {
  return {
    conversationId,
    messageId: snowflakeFloor(AT + ms),
    senderId: 'alice',
    clientMsgId: null,
    body,
    createdAt: AT + ms,
  };
}

function reply(parent: StoredMessage, ms: number, root = parent): StoredMessage {
  return { ...message(parent.conversationId, ms), replyTo: parent.messageId, threadRoot: root.messageId };
}

export function threadsContract(store: () => Storage, newConversation: () => Promise<string>): void {
  describe('replies and threads', () => {
    it('a reply keeps its parent and root in the stream, the offline queue and the late index', async () => {
      const s = store();
      const c = await newConversation();
      const root = message(c, 1);
      const r1 = reply(root, 2);
      const r2 = reply(r1, 3, root);
      for (const m of [root, r1, r2]) await s.appendMessage(m);
      const got = await s.getMessage(c, r2.messageId);
      assert.equal(got?.replyTo, r1.messageId);
      assert.equal(got?.threadRoot, root.messageId);
      const history = await s.getHistory(c, { limit: 10 });
      assert.deepEqual(
        history.map((m) => [m.messageId, m.replyTo ?? null]),
        [
          [r2.messageId, r1.messageId],
          [r1.messageId, root.messageId],
          [root.messageId, null],
        ],
      );
      const user = `u-${randomBytes(3).toString('hex')}`;
      await s.enqueueOffline(user, [r2]);
      const [queued] = await s.listOffline(user, 10);
      assert.equal(queued?.replyTo, r1.messageId);
      assert.equal(queued?.threadRoot, root.messageId);
      const visibleAt = AT + 60_000;
      await s.recordLate(r2, visibleAt);
      const late = await s.listLate(c, visibleAt, 10);
      assert.equal(late[0]?.message.threadRoot, root.messageId);
    });

    it("a root's summary counts each reply once, in any order, recorded any number of times", async () => {
      const s = store();
      const c = await newConversation();
      const root = message(c, 10);
      await s.appendMessage(root);
      assert.equal((await s.getMessage(c, root.messageId))?.thread ?? null, null);
      const replies = [reply(root, 13), reply(root, 11), reply(root, 12)];
      for (const r of replies) await s.appendMessage(r);
      let last: StoredMessage | null = null;
      for (const r of [...replies, replies[0]!, replies[1]!]) last = await s.addThreadReply(r);
      const expected = { replyCount: 3, lastReplyId: replies[0]!.messageId };
      assert.deepEqual(last?.thread, expected);
      assert.deepEqual((await s.getMessage(c, root.messageId))?.thread, expected);
      const [inHistory] = (await s.getHistory(c, { limit: 10 })).filter(
        (m) => m.messageId === root.messageId,
      );
      assert.deepEqual(inHistory?.thread, expected);
      const found = await s.searchMessages({ conversationIds: [c], terms: ['10'], limit: 5 });
      assert.deepEqual(
        found.messages.map((m) => [m.messageId, m.thread]),
        [[root.messageId, expected]],
        'search results carry the summary too',
      );
      // Concurrent recording (two gateways, or two regions' appliers) ends the same.
      const more = [reply(root, 14), reply(root, 15), reply(root, 16)];
      for (const r of more) await s.appendMessage(r);
      await Promise.all(more.flatMap((r) => [s.addThreadReply(r), s.addThreadReply(r)]));
      assert.deepEqual((await s.getMessage(c, root.messageId))?.thread, {
        replyCount: 6,
        lastReplyId: more[2]!.messageId,
      });
    });

    it('a reply whose root is not stored records nothing and resolves null', async () => {
      const s = store();
      const c = await newConversation();
      const root = message(c, 20);
      const r = reply(root, 21);
      await s.appendMessage(r);
      assert.equal(await s.addThreadReply(r), null);
      await s.putReplica(root);
      assert.equal((await s.getMessage(c, root.messageId))?.thread ?? null, null);
      assert.deepEqual(await s.getThread(c, root.messageId, { limit: 10 }), []);
      // The retried apply, once the root is here, counts it.
      assert.equal((await s.addThreadReply(r))?.thread?.replyCount, 1);
    });

    it('pages a thread newest first with before, oldest first with after; replies only', async () => {
      const s = store();
      const c = await newConversation();
      const root = message(c, 30);
      const other = message(c, 31);
      await s.appendMessage(root);
      await s.appendMessage(other);
      const replies = [32, 33, 34, 35, 36].map((ms) => reply(root, ms));
      await s.appendMessage(reply(other, 37));
      for (const r of replies) {
        await s.appendMessage(r);
        await s.addThreadReply(r);
      }
      const ids = replies.map((r) => r.messageId);
      const newest = await s.getThread(c, root.messageId, { limit: 2 });
      assert.deepEqual(
        newest.map((m) => m.messageId),
        [ids[4], ids[3]],
      );
      const older = await s.getThread(c, root.messageId, { before: ids[3]!, limit: 10 });
      assert.deepEqual(
        older.map((m) => m.messageId),
        [ids[2], ids[1], ids[0]],
      );
      const after = await s.getThread(c, root.messageId, { after: ids[1]!, limit: 2 });
      assert.deepEqual(
        after.map((m) => m.messageId),
        [ids[2], ids[3]],
      );
      assert.equal(after[0]?.body, replies[2]!.body);
      assert.deepEqual(await s.getThread(c, other.messageId, { limit: 10 }), []);
    });

    it('a replica keeps the reply fields (they travel in the record)', async () => {
      const s = store();
      const c = await newConversation();
      const root = message(c, 40);
      const r = reply(root, 41);
      await s.putReplica(root);
      await s.putReplica(r);
      const got = await s.getMessage(c, r.messageId);
      assert.equal(got?.replyTo, root.messageId);
      assert.equal(got?.threadRoot, root.messageId);
    });
  });
}
