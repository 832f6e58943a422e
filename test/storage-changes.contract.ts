/**
 * Edits and deletes in the storage contract (`Storage.applyChange`, `scrubOffline`, change
 * records in the stream), run by `storageContract` against every implementation: the state a
 * change leaves, convergence whatever the order (last writer by revision, a delete wins), the
 * body gone from the row and from offline and late copies, and history pages without change
 * records that stay full.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ChangeApply, MessageState, Storage, StoredMessage } from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';

const DAY = 24 * 3600 * 1000;
/** After the contract's conversations were created (49 days after the epoch). */
const AT = EPOCH_MS + 70 * DAY;

let seq = 0;
function uid(label: string): string {
  seq++;
  return `${label}-${seq}-${randomBytes(3).toString('hex')}`;
}

function message(conversationId: string, ms: number, n = 0, body = `body ${ms}+${n}`): StoredMessage {
  return {
    conversationId,
    messageId: snowflakeFloor(AT + ms) + BigInt(n),
    senderId: 'alice',
    clientMsgId: null,
    body,
    createdAt: AT + ms,
  };
}

/** A change record (its body is always empty) for `target`, minted `ms` after AT. */
function changeRecord(target: StoredMessage, kind: 'edit' | 'delete', ms: number, n = 0): StoredMessage {
  return {
    ...message(target.conversationId, ms, n, ''),
    clientMsgId: `chg-${ms}-${n}`,
    change: { kind, targetId: target.messageId },
  };
}

function edit(target: StoredMessage, revision: bigint, body: string, editCount = 1): ChangeApply {
  const state: MessageState = { revision, deleted: false, editedAt: AT + 1000, editCount };
  return { conversationId: target.conversationId, targetId: target.messageId, state, body };
}

function del(target: StoredMessage, revision: bigint): ChangeApply {
  const state: MessageState = { revision, deleted: true, editedAt: null, editCount: 0 };
  return { conversationId: target.conversationId, targetId: target.messageId, state, body: '' };
}

export function changesContract(store: () => Storage, newConversation: () => Promise<string>): void {
  describe('edits and deletes', () => {
    it('an edit changes body and state; an older revision applied later changes nothing', async () => {
      const s = store();
      const c = await newConversation();
      const m = message(c, 1);
      await s.appendMessage(m);
      const r1 = snowflakeFloor(AT + 50);
      const r2 = snowflakeFloor(AT + 60);
      const after2 = await s.applyChange(edit(m, r2, 'second', 2));
      assert.equal(after2?.body, 'second');
      assert.deepEqual(after2?.state, { revision: r2, deleted: false, editedAt: AT + 1000, editCount: 2 });
      const after1 = await s.applyChange(edit(m, r1, 'first', 1));
      assert.equal(after1?.body, 'second', 'the larger revision wins whatever the order');
      assert.equal((await s.getMessage(c, m.messageId))?.body, 'second');
      // Applying the same change again: same state.
      assert.deepEqual(await s.applyChange(edit(m, r2, 'second', 2)), after2);
      // A replica of the original written again does not bring the old body back.
      await s.putReplica(m);
      assert.equal((await s.getMessage(c, m.messageId))?.body, 'second');
    });

    it('a delete wins over any edit, in either order, and empties the body', async () => {
      const s = store();
      const c = await newConversation();
      const [a, b] = [message(c, 2), message(c, 3)];
      await s.appendMessage(a);
      await s.appendMessage(b);
      const early = snowflakeFloor(AT + 100);
      const late = snowflakeFloor(AT + 200);
      // a: edit (newer) after delete (older); b: delete then... the same pair the other way round.
      await s.applyChange(del(a, early));
      const a2 = await s.applyChange(edit(a, late, 'resurrected?'));
      await s.applyChange(edit(b, late, 'edited'));
      const b2 = await s.applyChange(del(b, early));
      for (const [got, id] of [
        [a2, a.messageId],
        [b2, b.messageId],
      ] as const) {
        assert.equal(got?.body, '');
        assert.equal(got?.state?.deleted, true);
        assert.equal(got?.state?.revision, early);
        const row = await s.getMessage(c, id);
        assert.equal(row?.body, '');
        assert.equal(row?.state?.deleted, true);
      }
      // The message keeps its place in history, shown as deleted.
      const page = await s.getHistory(c, { limit: 10 });
      assert.deepEqual(
        page.map((m) => [m.messageId, m.body, m.state?.deleted]),
        [
          [b.messageId, '', true],
          [a.messageId, '', true],
        ],
      );
      await s.putReplica(a);
      assert.equal((await s.getMessage(c, a.messageId))?.body, '', 'a replica does not undelete');
    });

    it('answers null for a target it does not hold, and stores nothing for it', async () => {
      const s = store();
      const c = await newConversation();
      const ghost = message(c, 4);
      assert.equal(await s.applyChange(edit(ghost, snowflakeFloor(AT + 300), 'x')), null);
      assert.equal(await s.applyChange(del(ghost, snowflakeFloor(AT + 301))), null);
      assert.equal(await s.getMessage(c, ghost.messageId), null);
      assert.deepEqual(await s.getHistory(c, { limit: 10 }), []);
    });

    it('history pages skip change records and stay full; a replay by id sees them', async () => {
      const s = store();
      const c = await newConversation();
      const messages = [0, 1, 2, 3, 4].map((i) => message(c, 10 + i * 10));
      for (const m of messages) await s.appendMessage(m);
      // Change records between and after the messages, more than a page's worth at the top.
      const changes = [
        changeRecord(messages[1]!, 'edit', 25),
        changeRecord(messages[4]!, 'edit', 60, 0),
        changeRecord(messages[4]!, 'edit', 60, 1),
        changeRecord(messages[4]!, 'delete', 60, 2),
      ];
      for (const ch of changes) {
        const r = await s.appendMessage(ch);
        assert.deepEqual(r.message.change, ch.change);
      }
      const ids = (ms: StoredMessage[]) => ms.map((m) => m.messageId);
      const page = await s.getHistory(c, { limit: 3 });
      assert.deepEqual(ids(page), ids([messages[4]!, messages[3]!, messages[2]!]));
      const older = await s.getHistory(c, { limit: 3, before: messages[2]!.messageId });
      assert.deepEqual(ids(older), ids([messages[1]!, messages[0]!]));
      const forward = await s.getHistory(c, { limit: 3, after: messages[0]!.messageId });
      assert.deepEqual(ids(forward), ids([messages[1]!, messages[2]!, messages[3]!]));
      const all = await s.getHistory(c, { limit: 20, after: 0n, includeChanges: true });
      assert.equal(all.length, 9);
      const recorded = all.filter((m) => m.change);
      assert.deepEqual(
        recorded.map((m) => [m.messageId, m.change?.kind, m.change?.targetId, m.body]),
        changes.map((m) => [m.messageId, m.change?.kind, m.change?.targetId, '']),
      );
      // Change records are not the conversation's last message, nor unread.
      const [summary] = await s.listUserConversations('alice');
      assert.ok(summary);
      const bob = (await s.listUserConversations('bob')).find((x) => x.conversation.id === c);
      assert.equal(bob?.lastMessage?.messageId, messages[4]!.messageId);
      assert.equal(bob?.unreadCount, 5);
      // Dedup by clientMsgId works for change records as for messages.
      const again = await s.appendMessage({ ...changes[0]!, messageId: changes[0]!.messageId + 7n });
      assert.equal(again.duplicate, true);
      assert.equal(again.message.messageId, changes[0]!.messageId);
    });

    it('reactions: one register per (emoji, user), the larger revision wins in any order', async () => {
      const s = store();
      const c = await newConversation();
      const m = message(c, 7);
      await s.appendMessage(m);
      const r = (emoji: string, userId: string, on: boolean, ms: number) => ({
        conversationId: c,
        targetId: m.messageId,
        emoji,
        userId,
        on,
        revision: snowflakeFloor(AT + ms),
      });
      await s.applyReaction(r('👍', 'bob', true, 500));
      await s.applyReaction(r('👍', 'carol', true, 510));
      // carol's removal (newer) arrives before her... older add arrives again: still removed.
      await s.applyReaction(r('🎉', 'carol', false, 530));
      await s.applyReaction(r('🎉', 'carol', true, 520));
      const after = await s.applyReaction(r('👍', 'bob', true, 500));
      assert.deepEqual(after?.reactions, {
        revision: snowflakeFloor(AT + 530),
        entries: [{ emoji: '👍', users: ['bob', 'carol'] }],
      });
      // History rows carry them; an edit keeps them.
      const [row] = await s.getHistory(c, { limit: 1 });
      assert.deepEqual(row?.reactions, after?.reactions);
      const edited = await s.applyChange(edit(m, snowflakeFloor(AT + 540), 'with reactions'));
      assert.deepEqual(edited?.reactions, after?.reactions);
      assert.equal(await s.applyReaction({ ...r('👍', 'bob', true, 550), targetId: m.messageId + 1n }), null);
    });

    it('a delete scrubs the offline-queue and late-index copies of the message', async () => {
      const s = store();
      const c = await newConversation();
      const m = message(c, 5, 0, 'secret words');
      const other = message(c, 6, 0, 'kept');
      await s.appendMessage(m);
      await s.appendMessage(other);
      const [u1, u2, u3] = [uid('u'), uid('u'), uid('u')];
      await s.enqueueOffline(u1, [m, other]);
      await s.enqueueOffline(u2, [m]);
      const visibleAt = AT + 60_000;
      await s.recordLate(m, visibleAt);
      await s.recordLate(other, visibleAt);
      const state = await s.applyChange(del(m, snowflakeFloor(AT + 400)));
      assert.equal(state?.state?.deleted, true);
      await s.scrubOffline([u1, u2, u3], c, m.messageId);
      for (const u of [u1, u2]) {
        const copy = (await s.listOffline(u, 10)).find((x) => x.messageId === m.messageId);
        assert.equal(copy?.body, '');
        assert.equal(copy?.state?.deleted, true);
      }
      assert.equal((await s.listOffline(u1, 10)).find((x) => x.messageId === other.messageId)?.body, 'kept');
      assert.deepEqual(await s.listOffline(u3, 10), [], 'no copy is made for a user who had none');
      const late = await s.listLate(c, visibleAt, 10);
      assert.equal(late.find((e) => e.message.messageId === m.messageId)?.message.body, '');
      assert.equal(late.find((e) => e.message.messageId === other.messageId)?.message.body, 'kept');
      const bodies = JSON.stringify(
        [...(await s.getHistory(c, { limit: 10 })), ...(await s.listOffline(u1, 10))].map((x) => x.body),
      );
      assert.ok(!bodies.includes('secret'), bodies);
    });
  });
}
