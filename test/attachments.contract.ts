/**
 * The behaviour every `AttachmentStore` must have (`storage.attachments` of each `Storage`), and
 * messages carrying attachment refs through every table that copies a message.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type AttachmentMeta,
  type AttachmentStore,
  type AttachmentUpload,
  chunkCount,
  readRange,
  toRef,
} from '../src/storage/attachments.ts';
import type { Storage, StoredMessage } from '../src/storage/types.ts';
import { snowflakeFloor } from '../src/util/snowflake.ts';
import { useStorageFixture } from './helpers/storage-fixture.ts';
import type { StorageFixture } from './storage.contract.ts';

/** Small chunks so a few KiB span several of them. */
const CHUNK = 1000;

let seq = 0;
const uid = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

/** Stores `bytes` as a committed attachment, the way the gateway does. */
async function upload(
  store: AttachmentStore,
  bytes: Uint8Array,
  over: Partial<AttachmentMeta> = {},
): Promise<{ meta: AttachmentMeta; up: AttachmentUpload }> {
  const up: AttachmentUpload = { id: uid('att'), conversationId: 'c1', startedAt: Date.now() };
  await store.begin(up);
  for (let i = 0; i < chunkCount(bytes.byteLength, CHUNK); i++) {
    await store.putChunk(up, i, bytes.subarray(i * CHUNK, (i + 1) * CHUNK));
  }
  const meta: AttachmentMeta = {
    id: up.id,
    conversationId: up.conversationId,
    uploaderId: 'alice',
    contentType: 'application/octet-stream',
    size: bytes.byteLength,
    name: 'file.bin',
    width: null,
    height: null,
    createdAt: Date.now(),
    chunkSize: CHUNK,
    ...over,
  };
  await store.commit(up, meta);
  return { meta, up };
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

export function attachmentContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`attachment store contract: ${name}`, () => {
    let s: Storage;
    let a: AttachmentStore;

    useStorageFixture(make, (storage) => {
      s = storage;

      a = s.attachments;
    });

    it('round-trips chunks and metadata', async () => {
      const bytes = randomBytes(3500);
      const { meta } = await upload(a, bytes, { width: 640, height: 480, contentType: 'image/png' });
      assert.deepEqual(await a.get(meta.id), meta);
      assert.deepEqual(await collect(readRange(a, meta, 0, bytes.byteLength - 1)), bytes);
      assert.equal(await a.readChunk(meta.id, 4), null);
    });

    it('reads ranges inside one chunk, across chunks and at the end', async () => {
      const bytes = randomBytes(3500);
      const { meta } = await upload(a, bytes);
      for (const [from, to] of [
        [0, 0],
        [10, 20],
        [990, 1010],
        [500, 3100],
        [3000, 3499],
        [3499, 3499],
      ] as const) {
        assert.deepEqual(await collect(readRange(a, meta, from, to)), bytes.subarray(from, to + 1));
      }
      await assert.rejects(collect(readRange(a, meta, 0, 3500)), RangeError);
    });

    it('an upload never committed is invisible, and discard removes its chunks', async () => {
      const up: AttachmentUpload = { id: uid('att'), conversationId: 'c1', startedAt: Date.now() };
      await a.begin(up);
      await a.putChunk(up, 0, randomBytes(CHUNK));
      assert.equal(await a.get(up.id), null);
      await a.discard(up);
      assert.equal(await a.readChunk(up.id, 0), null);
      assert.equal(await a.get(up.id), null);
    });

    it('sweepOrphans removes old uncommitted uploads and keeps committed and recent ones', async () => {
      const old: AttachmentUpload = { id: uid('att'), conversationId: 'c1', startedAt: Date.now() - 60_000 };
      await a.begin(old);
      await a.putChunk(old, 0, randomBytes(10));
      const recent: AttachmentUpload = { id: uid('att'), conversationId: 'c1', startedAt: Date.now() };
      await a.begin(recent);
      await a.putChunk(recent, 0, randomBytes(10));
      const { meta } = await upload(a, randomBytes(10));
      const swept = await a.sweepOrphans(Date.now() - 30_000);
      assert.deepEqual(
        swept.filter((u) => u.id === old.id || u.id === recent.id || u.id === meta.id),
        [old],
      );
      assert.equal(await a.readChunk(old.id, 0), null);
      assert.notEqual(await a.readChunk(recent.id, 0), null);
      assert.notEqual(await a.readChunk(meta.id, 0), null);
      assert.deepEqual(await a.get(meta.id), meta);
      assert.deepEqual(await a.sweepOrphans(Date.now() - 30_000), []);
    });

    it('commit is idempotent', async () => {
      const bytes = randomBytes(1200);
      const { meta, up } = await upload(a, bytes);
      await a.commit(up, meta);
      assert.deepEqual(await a.get(meta.id), meta);
    });

    it('delete removes metadata and chunks; unknown ids are ignored', async () => {
      const one = await upload(a, randomBytes(2100));
      const two = await upload(a, randomBytes(10));
      await a.delete(one.meta.conversationId, [one.meta.id, uid('unknown')]);
      assert.equal(await a.get(one.meta.id), null);
      for (let i = 0; i < 3; i++) assert.equal(await a.readChunk(one.meta.id, i), null);
      assert.deepEqual(await a.get(two.meta.id), two.meta);
    });

    it('messages keep their attachment refs in history, the offline queue and the late index', async () => {
      const conv = await s.createConversation(
        { id: uid('conv'), kind: 'group', title: 't', createdBy: 'alice', createdAt: Date.now() - 1000 },
        ['alice', 'bob'],
      );
      const { meta } = await upload(a, randomBytes(100), { conversationId: conv.id, width: 2, height: 3 });
      const now = Date.now();
      const message: StoredMessage = {
        conversationId: conv.id,
        messageId: snowflakeFloor(now),
        senderId: 'alice',
        clientMsgId: null,
        body: '',
        createdAt: now,
        attachments: [toRef(meta)],
      };
      await s.appendMessage(message);
      assert.deepEqual(await s.getMessage(conv.id, message.messageId), message);
      assert.deepEqual(await s.getHistory(conv.id, { limit: 5 }), [message]);
      const replica = { ...message, messageId: message.messageId + 1n };
      await s.putReplica(replica);
      assert.deepEqual(await s.getMessage(conv.id, replica.messageId), replica);
      await s.enqueueOffline('bob', [message]);
      assert.deepEqual(await s.listOffline('bob', 10), [message]);
      await s.recordLate(message, now + 20_000);
      assert.deepEqual(
        (await s.listLate(conv.id, now, 10)).map((l) => l.message),
        [message],
      );
      // A delete drops the refs everywhere the message is copied (the files go by `delete`).
      const deleted = { revision: message.messageId + 10n, deleted: true, editedAt: null, editCount: 0 };
      await s.applyChange({ conversationId: conv.id, targetId: message.messageId, state: deleted, body: '' });
      await s.scrubOffline(['bob'], conv.id, message.messageId);
      for (const m of [
        await s.getMessage(conv.id, message.messageId),
        ...(await s.listOffline('bob', 10)),
        ...(await s.listLate(conv.id, now, 10)).map((l) => l.message),
      ]) {
        assert.equal(m?.attachments, undefined);
        assert.equal(m?.state?.deleted, true);
      }
      // A message without attachments has no `attachments` field at all.
      const plain: StoredMessage = { ...message, messageId: message.messageId + 2n, body: 'x' };
      delete plain.attachments;
      await s.appendMessage(plain);
      assert.deepEqual(await s.getMessage(conv.id, plain.messageId), plain);
    });
  });
}
