/**
 * The retention and erasure contract (`storage.retention`), run against every implementation:
 * per-conversation periods (last setting wins), the conversation walk, expiry removing every row
 * of old messages and nothing newer, and erasure removing every row of one user's messages and
 * nothing of anyone else's, with a report of what went.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type AttachmentMeta, type AttachmentRef, chunkCount } from '../src/storage/attachments.ts';
import type { ErasureRecord } from '../src/storage/retention.ts';
import type { Conversation, Storage, StoredMessage } from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';
import { useStorageFixture } from './helpers/storage-fixture.ts';
import type { StorageFixture } from './storage.contract.ts';

const DAY = 24 * 3600 * 1000;
/** Conversations are created here; messages are placed after it. */
const CREATED = EPOCH_MS + 80 * DAY;

let seq = 0;
const uid = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

function msg(c: string, sender: string, ms: number, over: Partial<StoredMessage> = {}): StoredMessage {
  const at = CREATED + DAY + ms;
  return {
    conversationId: c,
    messageId: snowflakeFloor(at) + BigInt(seq++ % 1000),
    senderId: sender,
    clientMsgId: null,
    body: `${sender} says ${uid('word')}`,
    createdAt: at,
    ...over,
  };
}

async function attach(s: Storage, conversationId: string, bytes: number): Promise<AttachmentRef> {
  const up = { id: uid('att'), conversationId, startedAt: Date.now() };
  await s.attachments.begin(up);
  const chunkSize = 100;
  for (let i = 0; i < chunkCount(bytes, chunkSize); i++) {
    await s.attachments.putChunk(up, i, new Uint8Array(Math.min(chunkSize, bytes - i * chunkSize)).fill(7));
  }
  const meta: AttachmentMeta = {
    id: up.id,
    conversationId,
    uploaderId: 'x',
    contentType: 'application/octet-stream',
    size: bytes,
    name: null,
    width: null,
    height: null,
    createdAt: Date.now(),
    chunkSize,
  };
  await s.attachments.commit(up, meta);
  const { conversationId: _c, uploaderId: _u, createdAt: _t, chunkSize: _s, ...ref } = meta;
  return ref;
}

/** Stores a message with a copy in `offline`'s queue and one in the late index. */
async function store(s: Storage, m: StoredMessage, offline: string[] = []): Promise<StoredMessage> {
  await s.appendMessage(m);
  if (m.threadRoot) await s.addThreadReply(m);
  for (const u of offline) await s.enqueueOffline(u, [m]);
  await s.recordLate(m, m.createdAt + 30_000);
  return m;
}

/** Whether anything of message `m` can still be read through the store. */
async function traces(s: Storage, m: StoredMessage, users: string[]): Promise<string[]> {
  const found: string[] = [];
  if (await s.getMessage(m.conversationId, m.messageId)) found.push('message');
  const history = await s.getHistory(m.conversationId, { limit: 500, includeChanges: true });
  if (history.some((h) => h.messageId === m.messageId)) found.push('history');
  const late = await s.listLate(m.conversationId, 0, 500);
  if (late.some((l) => l.message.messageId === m.messageId)) found.push('late');
  for (const u of users) {
    if ((await s.listOffline(u, 500)).some((o) => o.messageId === m.messageId)) found.push(`offline:${u}`);
  }
  const word = m.body.split(' ').pop();
  if (word) {
    const page = await s.searchMessages({ conversationIds: [m.conversationId], terms: [word], limit: 10 });
    if (page.messages.some((h) => h.messageId === m.messageId)) found.push('search');
  }
  for (const ref of m.attachments ?? []) {
    if (await s.attachments.get(ref.id)) found.push(`attachment:${ref.id}`);
    if (await s.attachments.readChunk(ref.id, 0)) found.push(`chunk:${ref.id}`);
  }
  return found;
}

export function retentionContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`retention contract: ${name}`, () => {
    let s: Storage;

    useStorageFixture(make, (storage) => {
      s = storage;
    });

    async function group(members: string[]): Promise<Conversation> {
      const conv: Conversation = {
        id: uid('conv'),
        kind: 'group',
        title: 't',
        createdBy: members[0]!,
        createdAt: CREATED,
      };
      return s.createConversation(conv, members);
    }

    it('keeps a conversation period; the last setting by time wins; null follows the global one', async () => {
      const c = await group(['a']);
      assert.equal(await s.retention.getConversationRetention(c.id), null);
      await s.retention.setConversationRetention(c.id, 3600, 2000);
      assert.equal(await s.retention.getConversationRetention(c.id), 3600);
      // An older setting arriving later (replication) loses.
      await s.retention.setConversationRetention(c.id, 60, 1000);
      assert.equal(await s.retention.getConversationRetention(c.id), 3600);
      await s.retention.setConversationRetention(c.id, 0, 3000);
      assert.equal(await s.retention.getConversationRetention(c.id), 0);
      await s.retention.setConversationRetention(c.id, null, 4000);
      assert.equal(await s.retention.getConversationRetention(c.id), null);
      await assert.rejects(s.retention.setConversationRetention(uid('missing'), 60, 1));
      await assert.rejects(s.retention.setConversationRetention(c.id, -1, 5000), RangeError);
      // The rejected setting created nothing: the conversation can still be made.
    });

    it('walks every conversation in pages', async () => {
      const made = new Set<string>();
      for (let i = 0; i < 5; i++) made.add((await group(['a'])).id);
      const seen = new Set<string>();
      let after: string | null = null;
      for (let guard = 0; guard < 10_000; guard++) {
        const page = await s.retention.listConversations(after, 2);
        assert.ok(page.conversationIds.length <= 2);
        for (const id of page.conversationIds) {
          assert.ok(!seen.has(id), `listed twice: ${id}`);
          seen.add(id);
        }
        if (page.next === null) break;
        after = page.next;
      }
      for (const id of made) assert.ok(seen.has(id), `never listed: ${id}`);
    });

    it('expires messages older than a time, with every copy, and keeps newer ones', async () => {
      const c = await group(['alice', 'bob']);
      const file = await attach(s, c.id, 250);
      const old1 = await store(s, msg(c.id, 'alice', 0, { clientMsgId: uid('cm'), attachments: [file] }), [
        'bob',
      ]);
      const oldReply = await store(
        s,
        msg(c.id, 'bob', 1000, { replyTo: old1.messageId, threadRoot: old1.messageId }),
        ['alice'],
      );
      const cut = CREATED + DAY + 10_000;
      const young = await store(s, msg(c.id, 'alice', 20_000), ['bob']);
      const youngReply = await store(
        s,
        msg(c.id, 'bob', 21_000, { replyTo: young.messageId, threadRoot: young.messageId }),
      );

      const report = await s.retention.expireConversation(c.id, cut);
      assert.deepEqual(
        new Set(report.messageIds),
        new Set([old1.messageId.toString(), oldReply.messageId.toString()]),
      );
      assert.deepEqual(report.attachmentIds, [file.id]);
      for (const m of [old1, oldReply])
        assert.deepEqual(await traces(s, m, ['alice', 'bob']), [], `${m.body}`);
      for (const m of [young, youngReply]) {
        const left = await traces(s, m, m === young ? ['bob'] : []);
        assert.ok(left.includes('message') && left.includes('history') && left.includes('late'), `${left}`);
      }
      assert.equal((await s.getMessage(c.id, young.messageId))?.thread?.replyCount, 1);
      assert.deepEqual(
        (await s.getThread(c.id, young.messageId, { limit: 10 })).map((m) => m.messageId),
        [youngReply.messageId],
      );
      // A resend of the expired message's clientMsgId is not answered with it (its record is gone).
      const { attachments: _a, ...resend } = old1;
      const again = await s.appendMessage({
        ...resend,
        messageId: snowflakeFloor(cut + 1000),
        createdAt: cut + 1000,
      });
      assert.equal(again.duplicate, false);
      // Idempotent: nothing more to remove below the cut (the resend above is newer).
      const second = await s.retention.expireConversation(c.id, cut);
      assert.deepEqual(second.messageIds, []);
    });

    it('erases every message of one user, with every copy and the changes to them, and nothing else', async () => {
      const [eve, bob, carol] = [uid('eve'), uid('bob'), uid('carol')];
      const c1 = await group([eve, bob]);
      const c2 = await group([eve, carol, bob]);
      const file = await attach(s, c1.id, 150);
      const e1 = await store(s, msg(c1.id, eve, 0, { clientMsgId: uid('cm'), attachments: [file] }), [bob]);
      const b1 = await store(s, msg(c1.id, bob, 100), [eve]);
      const eReply = await store(
        s,
        msg(c1.id, eve, 200, { replyTo: b1.messageId, threadRoot: b1.messageId }),
        [bob],
      );
      const bReply = await store(
        s,
        msg(c1.id, bob, 300, { replyTo: e1.messageId, threadRoot: e1.messageId }),
      );
      const e2 = await store(s, msg(c2.id, eve, 400), [carol, bob]);
      const c1b = await store(s, msg(c2.id, carol, 500), [eve]);
      // Bob reacts to eve's message; eve edits hers (change records in the stream).
      const react = msg(c1.id, bob, 600, {
        body: '',
        change: { kind: 'react', targetId: e1.messageId, emoji: '👍' },
      });
      await s.appendMessage(react);
      await s.applyReaction({
        conversationId: c1.id,
        targetId: e1.messageId,
        emoji: '👍',
        userId: bob,
        on: true,
        revision: react.messageId,
      });
      // Eve reacts to carol's message: her register there goes with the erasure, carol's message stays.
      const eveReact = msg(c2.id, eve, 650, {
        body: '',
        change: { kind: 'react', targetId: c1b.messageId, emoji: '🎉' },
      });
      await s.appendMessage(eveReact);
      await s.applyReaction({
        conversationId: c2.id,
        targetId: c1b.messageId,
        emoji: '🎉',
        userId: eve,
        on: true,
        revision: eveReact.messageId,
      });
      assert.deepEqual((await s.getMessage(c2.id, c1b.messageId))?.reactions?.entries, [
        { emoji: '🎉', users: [eve] },
      ]);
      const edit = msg(c2.id, eve, 700, { body: '', change: { kind: 'edit', targetId: e2.messageId } });
      await s.appendMessage(edit);
      const edited = await s.applyChange({
        conversationId: c2.id,
        targetId: e2.messageId,
        state: { revision: edit.messageId, deleted: false, editedAt: edit.createdAt, editCount: 1 },
        body: `${e2.body} now`,
      });
      assert.ok(edited);

      const seen: number[] = [];
      const told: bigint[] = [];
      const report = await s.retention.eraseUser(eve, {
        progress: (p) => seen.push(p.removed),
        removed: (m) => told.push(m.messageId),
      });
      const expected = [e1, eReply, e2, edit, react, eveReact].map((m) => m.messageId.toString());
      assert.deepEqual(new Set(report.messageIds), new Set(expected));
      assert.deepEqual(report.attachmentIds, [file.id]);
      assert.ok((report.tables.messages ?? 0) >= expected.length, JSON.stringify(report.tables));
      assert.ok(seen.length > 0, 'progress reported');
      assert.deepEqual(new Set(told.map(String)), new Set(expected));
      for (const m of [e1, eReply, e2]) {
        assert.deepEqual(await traces(s, m, [eve, bob, carol]), [], m.body);
      }
      assert.deepEqual(await traces(s, { ...e2, body: edited.body }, [eve, bob, carol]), []);
      // Others' messages stay whole, wherever they are.
      for (const [m, users] of [
        [b1, [eve]],
        [bReply, []],
        [c1b, [eve]],
      ] as const) {
        const left = await traces(s, m, [...users]);
        assert.ok(left.includes('message') && left.includes('history') && left.includes('late'), `${left}`);
        for (const u of users) assert.ok(left.includes(`offline:${u}`), `${left}`);
      }
      assert.deepEqual((await s.getMessage(c2.id, c1b.messageId))?.reactions?.entries ?? [], []);
      // Bob's message lost eve's reply from its thread.
      assert.equal((await s.getMessage(c1.id, b1.messageId))?.thread ?? null, null);
      assert.deepEqual(await s.getThread(c1.id, b1.messageId, { limit: 10 }), []);
      // A second run finds nothing more.
      assert.deepEqual((await s.retention.eraseUser(eve)).messageIds, []);
    });

    it('keeps each region’s erasure record', async () => {
      const requestId = uid('req');
      const record = (region: string): ErasureRecord => ({
        requestId,
        userId: 'eve',
        region,
        requestedAt: 1000,
        finishedAt: null,
        status: 'running',
        progress: { scanned: 0, removed: 0 },
        report: null,
        error: null,
      });
      await s.retention.putErasure(record('us-east'));
      await s.retention.putErasure(record('eu-west'));
      const done: ErasureRecord = {
        ...record('us-east'),
        status: 'done',
        finishedAt: 2000,
        report: { tables: { messages: 2 }, messageIds: ['1', '2'], attachmentIds: [] },
      };
      await s.retention.putErasure(done);
      assert.deepEqual(await s.retention.getErasures(requestId), [record('eu-west'), done]);
      assert.deepEqual(await s.retention.getErasures(uid('other')), []);
      const all = await s.retention.listErasures();
      assert.deepEqual(
        all.filter((r) => r.requestId === requestId),
        [record('eu-west'), done],
      );
      const keys = all.map((r) => `${r.requestId}\u0000${r.region}`);
      assert.deepEqual(keys, [...keys].sort(), 'by request, then region');
    });
  });
}
