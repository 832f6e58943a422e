/**
 * The `AttachmentStore` of the embedded (LMDB) store, in the same environment as its messages.
 * Chunks sit in a binary database keyed [id, pad(index)], metadata in another keyed by id, and
 * uploads in progress in a third keyed [pad(startedAt), id] so the sweeper reads the old ones
 * as one range. Writes resolve after LMDB committed and flushed them (as the rest of the store).
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { AttachmentMeta, AttachmentStore, AttachmentUpload } from './attachments.ts';
import { durable } from './embedded-durable.ts';
import { MAX_KEY, padTime } from './embedded-keys.ts';

interface AttachmentTables {
  meta: Database<AttachmentMeta, string>;
  /** [id, pad(index)] → bytes */
  chunks: Database<Uint8Array, Key>;
  /** [pad(startedAt), id] → the upload */
  uploads: Database<AttachmentUpload, Key>;
}

const padIndex = (index: number) => index.toString().padStart(10, '0');

export class EmbeddedAttachments implements AttachmentStore {
  private root: RootDatabase | null = null;
  private tables: AttachmentTables | null = null;

  /** Opens the tables in the store's environment (`EmbeddedStorage.init`). */
  open(root: RootDatabase): void {
    this.root = root;
    this.tables = {
      meta: root.openDB({ name: 'attachments' }),
      chunks: root.openDB({ name: 'attachment_chunks', encoding: 'binary' }),
      uploads: root.openDB({ name: 'attachment_uploads' }),
    };
  }

  /** Forgets the environment (`EmbeddedStorage.close` closes it). */
  detach(): void {
    this.root = null;
    this.tables = null;
  }

  async begin(upload: AttachmentUpload): Promise<void> {
    await this.durable(this.t().uploads.put([padTime(upload.startedAt), upload.id], upload));
  }

  async putChunk(upload: AttachmentUpload, index: number, data: Uint8Array): Promise<void> {
    await this.durable(this.t().chunks.put([upload.id, padIndex(index)], data));
  }

  async commit(upload: AttachmentUpload, meta: AttachmentMeta): Promise<void> {
    const t = this.t();
    // One transaction: the metadata appears and the in-progress record goes together.
    await this.durable(
      t.meta.transaction(() => {
        t.meta.put(meta.id, meta);
        t.uploads.remove([padTime(upload.startedAt), upload.id]);
      }),
    );
  }

  async discard(upload: AttachmentUpload): Promise<void> {
    const t = this.t();
    await this.durable(
      t.chunks.transaction(() => {
        this.removeChunks(upload.id);
        t.uploads.remove([padTime(upload.startedAt), upload.id]);
      }),
    );
  }

  async get(id: string): Promise<AttachmentMeta | null> {
    return this.t().meta.get(id) ?? null;
  }

  async readChunk(id: string, index: number): Promise<Uint8Array | null> {
    return this.t().chunks.get([id, padIndex(index)]) ?? null;
  }

  async delete(_conversationId: string, ids: readonly string[]): Promise<void> {
    const t = this.t();
    await this.durable(
      t.meta.transaction(() => {
        for (const id of ids) {
          t.meta.remove(id);
          this.removeChunks(id);
        }
      }),
    );
  }

  async sweepOrphans(startedBefore: number): Promise<AttachmentUpload[]> {
    const t = this.t();
    const old = [...t.uploads.getRange({ start: [''], end: [padTime(Math.max(0, startedBefore))] })];
    if (old.length === 0) return [];
    return this.durable(
      t.uploads.transaction(() => {
        const swept: AttachmentUpload[] = [];
        for (const { key, value } of old) {
          // Committed but its record outlived the commit: keep the bytes.
          if (!t.meta.get(value.id)) {
            this.removeChunks(value.id);
            swept.push(value);
          }
          t.uploads.remove(key);
        }
        return swept;
      }),
    );
  }

  private removeChunks(id: string): void {
    const chunks = this.t().chunks;
    for (const key of chunks.getKeys({ start: [id], end: [id, MAX_KEY] })) chunks.remove(key);
  }

  private t(): AttachmentTables {
    if (!this.tables) throw new Error('EmbeddedStorage is not open: call init() first');
    return this.tables;
  }

  private durable<T>(write: Promise<T>): Promise<T> {
    return durable(this.root, write);
  }
}
