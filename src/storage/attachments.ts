/**
 * Attachment storage contract: files uploaded to a conversation, kept as fixed-size chunks
 * beside a metadata row. Two implementations, each part of its `Storage` (`storage.attachments`):
 * Cassandra (`cassandra/attachments.ts`, chunks in their own table) and LMDB
 * (`embedded-attachments.ts`). Both pass `test/attachments.contract.ts`.
 *
 * Nothing half-stored: an upload is `begin` → `putChunk`… → `commit`, and only `commit` writes the
 * metadata that makes it visible (`get` answers null until then, so no reader ever sees a part
 * of a file). An upload that fails is `discard`ed at once; one whose process died is found by
 * `sweepOrphans` through the record `begin` left, and its chunks removed.
 */

/** Bytes per stored chunk: a Cassandra cell well under its limits, and (base64 in JSON) far under NATS's 1 MB payload. */
export const ATTACHMENT_CHUNK_BYTES = 256 * 1024;

/** What a message carries about each attachment it references (and the wire shows). */
export interface AttachmentRef {
  id: string;
  contentType: string;
  /** Bytes. */
  size: number;
  /** The file name the uploader gave, or null. */
  name: string | null;
  /** Pixels, for images whose header could be read; null otherwise. */
  width: number | null;
  height: number | null;
}

export interface AttachmentMeta extends AttachmentRef {
  conversationId: string;
  uploaderId: string;
  /** Milliseconds since the Unix epoch, when the upload was committed. */
  createdAt: number;
  /** Bytes per chunk; every chunk but the last is this long. */
  chunkSize: number;
}

/** An upload in progress: enough to find its chunks (id) and replicate it (its conversation). */
export interface AttachmentUpload {
  id: string;
  conversationId: string;
  /** Milliseconds since the Unix epoch; the sweeper removes uploads older than its bound. */
  startedAt: number;
}

export interface AttachmentStore {
  /** Records an upload as in progress, before its first chunk: what `sweepOrphans` looks for. */
  begin(upload: AttachmentUpload): Promise<void>;
  /** Durably stores chunk `index` (from 0) of an upload. Idempotent; invisible until `commit`. */
  putChunk(upload: AttachmentUpload, index: number, data: Uint8Array): Promise<void>;
  /**
   * Makes the attachment visible: written after every chunk is durable, and the in-progress
   * record removed. Idempotent (a replicated commit may come twice).
   */
  commit(upload: AttachmentUpload, meta: AttachmentMeta): Promise<void>;
  /** Removes an upload that will never be committed (chunks and in-progress record). */
  discard(upload: AttachmentUpload): Promise<void>;
  /** The committed attachment's metadata, or null (unknown, not yet committed, or deleted). */
  get(id: string): Promise<AttachmentMeta | null>;
  /**
   * One stored chunk, or null. Readers call `get` first: only a committed attachment's chunks
   * are for reading.
   */
  readChunk(id: string, index: number): Promise<Uint8Array | null>;
  /**
   * Removes attachments (metadata first, so none is ever visible without its bytes, then
   * chunks). Unknown ids are ignored. What a message delete calls for its attachments: through
   * the gateway's store (`Replication.storage`) it also removes them from every other region,
   * so it names the conversation the attachments belong to (replication's ordering key).
   */
  delete(conversationId: string, ids: readonly string[]): Promise<void>;
  /**
   * Removes uploads begun before `startedBefore` (ms) and never committed; returns them (an
   * in-progress record that outlived its commit is dropped, the file kept, and not returned).
   * Callers pass a bound well past the longest an upload may take, so none in progress is cut.
   */
  sweepOrphans(startedBefore: number): Promise<AttachmentUpload[]>;
}

/** Number of chunks a file of `size` bytes is stored in. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/**
 * Bytes `start`..`end` (inclusive) of a committed attachment, as slices of its chunks in order.
 * Throws when a chunk is missing (the attachment was deleted while being read).
 */
export async function* readRange(
  store: AttachmentStore,
  meta: AttachmentMeta,
  start: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  if (start < 0 || end >= meta.size || start > end) {
    throw new RangeError(`range ${start}-${end} outside 0-${meta.size - 1}`);
  }
  const first = Math.floor(start / meta.chunkSize);
  const last = Math.floor(end / meta.chunkSize);
  for (let i = first; i <= last; i++) {
    const chunk = await store.readChunk(meta.id, i);
    if (!chunk) throw new Error(`attachment ${meta.id}: chunk ${i} missing`);
    const base = i * meta.chunkSize;
    const from = i === first ? start - base : 0;
    const to = i === last ? end - base + 1 : chunk.byteLength;
    yield chunk.subarray(from, to);
  }
}

/** The part of the metadata a message carries. */
export function toRef(meta: AttachmentMeta): AttachmentRef {
  return {
    id: meta.id,
    contentType: meta.contentType,
    size: meta.size,
    name: meta.name,
    width: meta.width,
    height: meta.height,
  };
}
