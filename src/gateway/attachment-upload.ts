/**
 * One attachment upload's body, streamed into the store: bytes are cut into
 * ATTACHMENT_CHUNK_BYTES chunks as they arrive and written one after another, the request is
 * paused while writes lag behind (memory stays at a few chunks whatever the file's size), and it
 * fails as soon as the body passes `maxBytes`. `finish` commits the metadata after the last chunk
 * is durable; on any failure `discard` removes what was written (nothing half-stored).
 */
import { imageSize } from 'image-size';
import { ChatError, ErrorCode } from '../protocol/index.ts';
import {
  ATTACHMENT_CHUNK_BYTES,
  type AttachmentMeta,
  type AttachmentStore,
  type AttachmentUpload,
} from '../storage/attachments.ts';

/** Chunk writes in flight before the request is paused. */
const MAX_PENDING_WRITES = 2;

export interface UploadRequest {
  upload: AttachmentUpload;
  uploaderId: string;
  contentType: string;
  name: string | null;
  maxBytes: number;
}

export class UploadSink {
  private size = 0;
  private index = 0;
  private readonly parts: Buffer[] = [];
  private partBytes = 0;
  /** The first chunk, kept for reading image dimensions. */
  private head: Buffer | null = null;
  private pending = 0;
  /** Every write so far, in order; rejects with the first failure. */
  private chain: Promise<void>;
  private failure: unknown = null;

  constructor(
    private readonly store: AttachmentStore,
    private readonly req: UploadRequest,
    /** Called with true when the request should pause (writes lag), false to resume. */
    private readonly backpressure: (paused: boolean) => void,
    /** Resolves once the upload may be written (the membership check and `begin`). */
    ready: Promise<void>,
  ) {
    this.chain = ready;
    this.chain.catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  /** A piece of the body (copied: uWS reuses its buffer). Throws `too_large` past the limit. */
  push(bytes: ArrayBuffer): void {
    if (this.failure) return;
    this.size += bytes.byteLength;
    if (this.size > this.req.maxBytes) {
      throw new ChatError(ErrorCode.TooLarge, `attachment exceeds ${this.req.maxBytes} bytes`, {
        maxBytes: this.req.maxBytes,
      });
    }
    let data = Buffer.from(bytes.slice(0));
    while (data.byteLength > 0) {
      const room = ATTACHMENT_CHUNK_BYTES - this.partBytes;
      this.parts.push(data.subarray(0, room));
      this.partBytes += Math.min(room, data.byteLength);
      data = data.subarray(room);
      if (this.partBytes === ATTACHMENT_CHUNK_BYTES) this.flush();
    }
  }

  /** After the last byte: writes the rest, then commits. Resolves with the stored metadata. */
  async finish(): Promise<AttachmentMeta> {
    if (this.size === 0) {
      throw new ChatError(ErrorCode.InvalidField, 'empty body', { field: 'body' });
    }
    if (this.partBytes > 0) this.flush();
    await this.chain;
    const { upload, contentType } = this.req;
    const dims = contentType.startsWith('image/') ? imageDimensions(this.head, contentType) : null;
    const meta: AttachmentMeta = {
      id: upload.id,
      conversationId: upload.conversationId,
      uploaderId: this.req.uploaderId,
      contentType,
      size: this.size,
      name: this.req.name,
      width: dims?.width ?? null,
      height: dims?.height ?? null,
      createdAt: Date.now(),
      chunkSize: ATTACHMENT_CHUNK_BYTES,
    };
    await this.store.commit(upload, meta);
    return meta;
  }

  /** Removes whatever was written, once the writes in flight are done. */
  async discard(): Promise<void> {
    await this.chain.catch(() => {});
    await this.store.discard(this.req.upload);
  }

  private flush(): void {
    const chunk = Buffer.concat(this.parts, this.partBytes);
    this.parts.length = 0;
    this.partBytes = 0;
    const index = this.index++;
    if (index === 0) this.head = chunk;
    this.pending++;
    if (this.pending === MAX_PENDING_WRITES) this.backpressure(true);
    this.chain = this.chain.then(async () => {
      try {
        await this.store.putChunk(this.req.upload, index, chunk);
      } finally {
        if (this.pending-- === MAX_PENDING_WRITES) this.backpressure(false);
      }
    });
    this.chain.catch((err: unknown) => {
      this.failure ??= err;
    });
  }
}

/** image-size's name for the formats whose declared type is checked against the bytes. */
const DETECTED: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/**
 * Width and height from an image's header (image-size, a maintained library, reads PNG, JPEG,
 * GIF, WebP and more from the first bytes). An image whose header cannot be read, or whose bytes
 * are another format than declared, is refused: a message would otherwise show a broken image
 * with no size to lay it out.
 */
function imageDimensions(head: Buffer | null, contentType: string): { width: number; height: number } {
  try {
    const { width, height, type } = imageSize(head ?? Buffer.alloc(0));
    const expected = DETECTED[contentType];
    if (width > 0 && height > 0 && (expected === undefined || expected === type)) return { width, height };
  } catch {
    // Reported below, as the typed error.
  }
  throw new ChatError(ErrorCode.InvalidField, 'body is not a readable image of its content type', {
    field: 'body',
  });
}
