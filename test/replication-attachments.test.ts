/**
 * Attachments through replication without NATS: what the origin's replicating store publishes
 * (captured from the link), applied in order to another region's store, leaves the same file
 * there; a discard, a sweep and a delete at the origin reach it too; every event fits a NATS
 * payload; the events carrying the file are named by it, and a delete erases them in both regions.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Applier, type ReplicationSink } from '../src/replication/apply.ts';
import { StreamEraser } from '../src/replication/erase.ts';
import { decodeEvent } from '../src/replication/events.ts';
import type { CrossRegionLink, ErasableItem } from '../src/replication/link.ts';
import { OutboxPublisher, replicatingStorage } from '../src/replication/outbox.ts';
import {
  ATTACHMENT_CHUNK_BYTES,
  type AttachmentMeta,
  type AttachmentUpload,
  readRange,
} from '../src/storage/attachments.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import type { Storage } from '../src/storage/types.ts';

/** NATS's default max_payload. */
const NATS_MAX_PAYLOAD = 1024 * 1024;

const sink: ReplicationSink = {
  async deliverMessage() {},
  async deliverConversation() {},
  async deliverReceipt() {},
  async deliverChange() {},
};

describe('attachments through replication', () => {
  let dirs: string[];
  let origin: EmbeddedStorage;
  let replica: EmbeddedStorage;
  let replicating: Storage;
  const published: {
    data: Uint8Array;
    eventId: string;
    key: string | undefined;
    item: string | undefined;
  }[] = [];
  /** What each region asked its streams to erase. */
  const erased: { origin: ErasableItem[]; replica: ErasableItem[] } = { origin: [], replica: [] };
  const eraserFor = (side: 'origin' | 'replica') =>
    new StreamEraser({
      async erase(items) {
        erased[side].push(...items);
        return items.length;
      },
      async eraseInboxEvent() {},
    });
  let applier: Applier;

  /** Applies everything published so far, in order, as the other region's inbox would. */
  async function drain(): Promise<void> {
    for (const p of published.splice(0)) await applier.apply(decodeEvent(p.data), p.eventId, sink);
  }

  before(async () => {
    dirs = [await mkdtemp(join(tmpdir(), 'xa-o-')), await mkdtemp(join(tmpdir(), 'xa-r-'))];
    origin = new EmbeddedStorage({ dataDir: dirs[0]! });
    replica = new EmbeddedStorage({ dataDir: dirs[1]! });
    await origin.init();
    await replica.init();
    const link = {
      async publish(data: Uint8Array, eventId: string, key?: string, item?: string) {
        assert.ok(data.byteLength < NATS_MAX_PAYLOAD / 2, `event of ${data.byteLength} bytes`);
        published.push({ data, eventId, key, item });
      },
    } as unknown as CrossRegionLink;
    replicating = replicatingStorage(origin, new OutboxPublisher(link), eraserFor('origin'));
    applier = new Applier(replica, eraserFor('replica'));
  });
  after(async () => {
    await origin.close();
    await replica.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function store(
    bytes: Buffer,
    startedAt = Date.now(),
  ): Promise<{ up: AttachmentUpload; meta: AttachmentMeta }> {
    const a = replicating.attachments;
    const up: AttachmentUpload = {
      id: randomBytes(16).toString('base64url'),
      conversationId: 'g:7',
      startedAt,
    };
    await a.begin(up);
    const n = Math.ceil(bytes.byteLength / ATTACHMENT_CHUNK_BYTES);
    for (let i = 0; i < n; i++) {
      await a.putChunk(up, i, bytes.subarray(i * ATTACHMENT_CHUNK_BYTES, (i + 1) * ATTACHMENT_CHUNK_BYTES));
    }
    const meta: AttachmentMeta = {
      id: up.id,
      conversationId: up.conversationId,
      uploaderId: 'alice',
      contentType: 'application/pdf',
      size: bytes.byteLength,
      name: null,
      width: null,
      height: null,
      createdAt: Date.now(),
      chunkSize: ATTACHMENT_CHUNK_BYTES,
    };
    await a.commit(up, meta);
    return { up, meta };
  }

  it('a committed upload arrives whole, every event keyed by its conversation', async () => {
    const bytes = randomBytes(ATTACHMENT_CHUNK_BYTES * 2 + 1000);
    const { meta } = await store(bytes);
    assert.deepEqual(
      published.map((p) => p.key),
      ['g:7', 'g:7', 'g:7', 'g:7'],
    );
    // Chunks and commit carry the file: each is named by it, for erasing.
    assert.deepEqual(
      published.map((p) => p.item),
      [`a${meta.id}`, `a${meta.id}`, `a${meta.id}`, `a${meta.id}`],
    );
    assert.equal(await replica.attachments.get(meta.id), null);
    await drain();
    assert.deepEqual(await replica.attachments.get(meta.id), meta);
    const parts: Uint8Array[] = [];
    for await (const c of readRange(replica.attachments, meta, 0, meta.size - 1)) parts.push(c);
    assert.deepEqual(Buffer.concat(parts), bytes);
  });

  it('a delete at the origin removes the file in the other region', async () => {
    const { meta } = await store(randomBytes(100));
    await drain();
    erased.origin.length = 0;
    erased.replica.length = 0;
    await replicating.attachments.delete('g:7', [meta.id]);
    assert.equal(published.at(-1)?.item, undefined, 'the delete event carries no file');
    await drain();
    assert.equal(await replica.attachments.get(meta.id), null);
    assert.equal(await replica.attachments.readChunk(meta.id, 0), null);
    // Both regions erase the file's events, looking back from before the upload began.
    for (const side of ['origin', 'replica'] as const) {
      assert.equal(erased[side].length, 1, side);
      assert.equal(erased[side][0]?.item, `a${meta.id}`);
      assert.ok(erased[side][0]!.since < meta.createdAt - 60 * 60_000, side);
    }
  });

  it('a discarded upload and one the origin’s sweeper finds abandoned leave no chunks elsewhere', async () => {
    const a = replicating.attachments;
    const failed: AttachmentUpload = {
      id: randomBytes(16).toString('base64url'),
      conversationId: 'g:7',
      startedAt: Date.now(),
    };
    await a.begin(failed);
    await a.putChunk(failed, 0, randomBytes(10));
    await a.discard(failed);
    const abandoned: AttachmentUpload = {
      id: randomBytes(16).toString('base64url'),
      conversationId: 'g:7',
      startedAt: Date.now() - 60_000,
    };
    await a.begin(abandoned);
    await a.putChunk(abandoned, 0, randomBytes(10));
    await drain();
    assert.notEqual(await replica.attachments.readChunk(abandoned.id, 0), null);
    assert.deepEqual(await a.sweepOrphans(Date.now() - 30_000), [abandoned]);
    await drain();
    for (const id of [failed.id, abandoned.id]) {
      assert.equal(await replica.attachments.readChunk(id, 0), null);
      assert.equal(await origin.attachments.readChunk(id, 0), null);
    }
    // Other regions keep no in-progress record: their sweepers have nothing to decide.
    assert.deepEqual(await replica.attachments.sweepOrphans(Date.now()), []);
  });
});
