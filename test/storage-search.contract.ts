/**
 * The search part of the storage contract (`Storage.searchMessages`), run by `storageContract` on
 * every implementation. Edits and deletes go through `Storage.applyChange`, as the edit and delete
 * operations do.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { searchTerms } from '../src/protocol/search.ts';
import { BUCKET_MS } from '../src/storage/cassandra/rows.ts';
import type { ChangeApply, SearchQuery, Storage, StoredMessage } from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';

const DAY = 24 * 3600 * 1000;
const BASE = EPOCH_MS + 80 * DAY;

/** An edit (a new body) or, with `deleted`, a delete of `m`, as change `revision`. */
function change(m: StoredMessage, revision: bigint, body: string, deleted = false): ChangeApply {
  return {
    conversationId: m.conversationId,
    targetId: m.messageId,
    state: { revision, deleted, editedAt: deleted ? null : m.createdAt + 1, editCount: deleted ? 0 : 1 },
    body,
  };
}

let seq = 0;
function uid(label: string): string {
  seq++;
  return `${label}-${seq}-${randomBytes(3).toString('hex')}`;
}

function message(conversationId: string, ms: number, body: string, n = 0): StoredMessage {
  return {
    conversationId,
    messageId: snowflakeFloor(ms) + BigInt(n),
    senderId: 'alice',
    clientMsgId: null,
    body,
    createdAt: ms,
  };
}

export function searchContract(store: () => Storage): void {
  describe('search', () => {
    async function conversation(createdAt = BASE - DAY): Promise<string> {
      const id = uid('g:search');
      await store().createConversation({ id, kind: 'group', title: 't', createdBy: 'alice', createdAt }, [
        'alice',
        'bob',
      ]);
      return id;
    }

    const search = (q: Omit<SearchQuery, 'terms'> & { text: string }) =>
      store().searchMessages({ ...q, terms: searchTerms(q.text) });
    const idsOf = (page: { messages: StoredMessage[] }) => page.messages.map((m) => m.messageId);

    it('finds messages with every word, case-insensitively, newest first, only in the given conversations', async () => {
      const s = store();
      const [a, b, other] = [await conversation(), await conversation(), await conversation()];
      const m1 = message(a, BASE + 1000, 'The quick brown FOX');
      const m2 = message(b, BASE + 2000, 'a fox-trot, quickly');
      const m3 = message(a, BASE + 3000, 'Quick! a fox ran');
      const m4 = message(other, BASE + 4000, 'quick fox elsewhere');
      const m5 = message(a, BASE + 5000, 'nothing to see');
      for (const m of [m1, m2, m3, m4, m5]) await s.appendMessage(m);

      assert.deepEqual(await search({ conversationIds: [a, b], text: 'fox', limit: 10 }), {
        messages: [m3, m2, m1],
        nextBefore: null,
      });
      assert.deepEqual(idsOf(await search({ conversationIds: [a, b], text: 'QUICK fox', limit: 10 })), [
        m3.messageId,
        m1.messageId,
      ]);
      // "fox-trot" is two words; "quickly" is not "quick".
      assert.deepEqual(idsOf(await search({ conversationIds: [a, b], text: 'trot', limit: 10 })), [
        m2.messageId,
      ]);
      assert.deepEqual(idsOf(await search({ conversationIds: [b], text: 'quick', limit: 10 })), []);
      assert.deepEqual(idsOf(await search({ conversationIds: [a], text: 'fox absent', limit: 10 })), []);
      assert.deepEqual(idsOf(await search({ conversationIds: [], text: 'fox', limit: 10 })), []);
      assert.deepEqual(idsOf(await search({ conversationIds: [a], text: '', limit: 10 })), []);
      assert.deepEqual(idsOf(await search({ conversationIds: [a], text: 'fox', limit: 0 })), []);
    });

    it('folds case and width the same way for bodies and queries', async () => {
      const s = store();
      const c = await conversation();
      const m = message(c, BASE + 1000, 'Rendez-vous à ÉCOLE, 東京タワー');
      await s.appendMessage(m);
      for (const text of ['école', 'ÉCOLE rendez', 'vous', '東京タワー']) {
        assert.deepEqual(idsOf(await search({ conversationIds: [c], text, limit: 5 })), [m.messageId], text);
      }
    });

    it('pages with nextBefore across buckets and conversations, each match once', async () => {
      const s = store();
      const [a, b] = [await conversation(), await conversation()];
      const all: StoredMessage[] = [];
      for (let i = 0; i < 9; i++) {
        // Three buckets, two conversations, a non-matching message between each.
        const at = BASE + Math.floor(i / 3) * BUCKET_MS + (i % 3) * 1000;
        const m = message(i % 2 === 0 ? a : b, at, `page word ${i}`);
        all.push(m);
        await s.appendMessage(m);
        await s.appendMessage(message(a, at, 'unrelated', 1));
      }
      const expected = all.map((m) => m.messageId).reverse();
      const seen: bigint[] = [];
      let before: bigint | undefined;
      for (let round = 0; round < 20; round++) {
        const page = await search({
          conversationIds: [a, b],
          text: 'word page',
          limit: 4,
          ...(before !== undefined ? { before } : {}),
        });
        assert.ok(page.messages.length <= 4);
        seen.push(...idsOf(page));
        if (page.nextBefore === null) break;
        before = page.nextBefore;
      }
      assert.deepEqual(seen, expected);
      // A cursor below everything finds nothing.
      assert.deepEqual(await search({ conversationIds: [a, b], text: 'word', limit: 4, before: 1n }), {
        messages: [],
        nextBefore: null,
      });
    });

    it('finds replicas, once however often they are applied', async () => {
      const s = store();
      const c = await conversation();
      const m = message(c, BASE + 7000, 'replicated greeting');
      await s.putReplica(m);
      await s.putReplica(m);
      assert.deepEqual(await search({ conversationIds: [c], text: 'greeting', limit: 5 }), {
        messages: [m],
        nextBefore: null,
      });
    });

    it('follows edits and deletes at once: new words find it, old words and deleted bodies do not', async () => {
      const s = store();
      const c = await conversation();
      const m = message(c, BASE + 8000, 'original wording here');
      const gone = message(c, BASE + 9000, 'wording to delete');
      await s.appendMessage(m);
      await s.appendMessage(gone);

      const edited = await s.applyChange(change(m, m.messageId + 100n, 'revised text here'));
      assert.equal(edited?.body, 'revised text here');
      const ghost = { ...m, messageId: m.messageId + 1n };
      assert.equal(await s.applyChange(change(ghost, m.messageId + 101n, 'nobody')), null);
      assert.deepEqual(idsOf(await search({ conversationIds: [c], text: 'revised', limit: 5 })), [
        m.messageId,
      ]);
      assert.deepEqual(idsOf(await search({ conversationIds: [c], text: 'original', limit: 5 })), []);
      assert.deepEqual(idsOf(await search({ conversationIds: [c], text: 'here', limit: 5 })), [m.messageId]);

      await s.applyChange(change(gone, gone.messageId + 100n, '', true));
      assert.deepEqual(idsOf(await search({ conversationIds: [c], text: 'wording', limit: 5 })), []);
      assert.deepEqual(idsOf(await search({ conversationIds: [c], text: 'delete', limit: 5 })), []);
    });
  });
}
