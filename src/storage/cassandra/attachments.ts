/**
 * The `AttachmentStore` on Cassandra (tables in migration 4, `schema.ts`): chunks in
 * `attachment_chunks` (one partition per attachment), metadata in `attachments`, written after
 * the chunks, and uploads in progress in `attachment_uploads` by day.
 *
 * Orphans (an upload whose gateway died between its first chunk and its commit) are reclaimed by
 * a sweeper (`sweepOrphans`, run by every gateway) rather than a TTL on the chunks: a TTL would
 * have to be removed at commit, which in Cassandra means rewriting every chunk of the file.
 */
import cassandra from 'cassandra-driver';
import type { AttachmentMeta, AttachmentStore, AttachmentUpload } from '../attachments.ts';
import { millis, text } from './rows.ts';
import type { CqlSession } from './session.ts';

const { types: cql } = cassandra;
const DAY_MS = 24 * 3600 * 1000;
/** The sweeper looks this many days back: it runs far more often than that. */
const SWEEP_LOOKBACK_DAYS = 2;

const dayOf = (ms: number) => Math.floor(ms / DAY_MS);

export class CassandraAttachments implements AttachmentStore {
  private readonly q: ReturnType<typeof statements>;

  constructor(private readonly db: CqlSession) {
    this.q = statements(db.ks);
  }

  async begin(upload: AttachmentUpload): Promise<void> {
    await this.db.client.execute(this.q.insertUpload, [
      dayOf(upload.startedAt),
      new Date(upload.startedAt),
      upload.id,
      upload.conversationId,
    ]);
  }

  async putChunk(upload: AttachmentUpload, index: number, data: Uint8Array): Promise<void> {
    await this.db.client.execute(this.q.insertChunk, [upload.id, index, Buffer.from(data)]);
  }

  async commit(upload: AttachmentUpload, meta: AttachmentMeta): Promise<void> {
    await this.db.client.execute(this.q.insertMeta, [
      meta.id,
      meta.conversationId,
      meta.uploaderId,
      meta.contentType,
      cql.Long.fromNumber(meta.size),
      meta.name,
      meta.width,
      meta.height,
      new Date(meta.createdAt),
      meta.chunkSize,
    ]);
    // A failure here only leaves a record the sweeper drops (keeping a committed file's chunks).
    await this.db.client.execute(this.q.deleteUpload, [
      dayOf(upload.startedAt),
      new Date(upload.startedAt),
      upload.id,
    ]);
  }

  async discard(upload: AttachmentUpload): Promise<void> {
    await this.db.client.execute(this.q.deleteChunks, [upload.id]);
    await this.db.client.execute(this.q.deleteUpload, [
      dayOf(upload.startedAt),
      new Date(upload.startedAt),
      upload.id,
    ]);
  }

  async get(id: string): Promise<AttachmentMeta | null> {
    const rs = await this.db.client.execute(this.q.selectMeta, [id]);
    const row = rs.first();
    if (!row) return null;
    const int = (c: string): number | null => {
      const v: unknown = row.get(c);
      return typeof v === 'number' ? v : null;
    };
    const name: unknown = row.get('name');
    return {
      id,
      conversationId: text(row, 'conversation_id'),
      uploaderId: text(row, 'uploader_id'),
      contentType: text(row, 'content_type'),
      size: Number(row.get('size')),
      name: typeof name === 'string' ? name : null,
      width: int('width'),
      height: int('height'),
      createdAt: millis(row, 'created_at'),
      chunkSize: int('chunk_size') ?? 0,
    };
  }

  async readChunk(id: string, index: number): Promise<Uint8Array | null> {
    const rs = await this.db.client.execute(this.q.selectChunk, [id, index]);
    const data: unknown = rs.first()?.get('data');
    return data instanceof Uint8Array ? data : null;
  }

  async delete(_conversationId: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      // Metadata first: from then on nobody reads the chunks.
      await this.db.client.execute(this.q.deleteMeta, [id]);
      await this.db.client.execute(this.q.deleteChunks, [id]);
    }
  }

  async sweepOrphans(startedBefore: number): Promise<AttachmentUpload[]> {
    const swept: AttachmentUpload[] = [];
    const last = dayOf(startedBefore);
    for (let d = last - SWEEP_LOOKBACK_DAYS; d <= last; d++) {
      const rs = await this.db.client.execute(this.q.selectUploadsBefore, [d, new Date(startedBefore)]);
      for (const row of rs.rows) {
        const id = text(row, 'attachment_id');
        // Committed but its record outlived the commit: keep the bytes.
        if (!(await this.get(id))) {
          await this.db.client.execute(this.q.deleteChunks, [id]);
          swept.push({
            id,
            conversationId: text(row, 'conversation_id'),
            startedAt: millis(row, 'started_at'),
          });
        }
        await this.db.client.execute(this.q.deleteUpload, [d, row.get('started_at'), id]);
      }
    }
    return swept;
  }
}

function statements(ks: string) {
  return {
    insertUpload: `INSERT INTO ${ks}.attachment_uploads (day, started_at, attachment_id, conversation_id)
         VALUES (?, ?, ?, ?)`,
    selectUploadsBefore: `SELECT started_at, attachment_id, conversation_id FROM ${ks}.attachment_uploads
         WHERE day = ? AND started_at < ?`,
    deleteUpload: `DELETE FROM ${ks}.attachment_uploads WHERE day = ? AND started_at = ? AND attachment_id = ?`,
    insertChunk: `INSERT INTO ${ks}.attachment_chunks (attachment_id, chunk_index, data) VALUES (?, ?, ?)`,
    selectChunk: `SELECT data FROM ${ks}.attachment_chunks WHERE attachment_id = ? AND chunk_index = ?`,
    deleteChunks: `DELETE FROM ${ks}.attachment_chunks WHERE attachment_id = ?`,
    insertMeta: `INSERT INTO ${ks}.attachments
           (attachment_id, conversation_id, uploader_id, content_type, size, name, width, height,
            created_at, chunk_size)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    selectMeta: `SELECT * FROM ${ks}.attachments WHERE attachment_id = ?`,
    deleteMeta: `DELETE FROM ${ks}.attachments WHERE attachment_id = ?`,
  } as const;
}
