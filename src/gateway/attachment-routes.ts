/**
 * Attachment HTTP endpoints on the gateway's HTTP app (`transport/`) (docs/protocol.md, "Attachments"):
 *
 *   POST /attachments?conversationId=…&name=…   body = the file, Content-Type = its type
 *   GET  /attachments/<id>                       the file, with Range support
 *
 * Both take the user's access token as `Authorization: Bearer <token>`, verified as the
 * WebSocket upgrade verifies it, and answer only members of the attachment's conversation
 * (anyone else gets 404, as for an unknown id). Errors are typed JSON bodies with stable codes.
 *
 * A browser `<img>` cannot send that header: the SDK downloads with it and the web app shows a
 * blob URL (`ChatClient.downloadAttachment`). A token in the URL would end up in logs and
 * history; a signed URL would be a second credential to revoke.
 */

import { randomBytes } from 'node:crypto';
import type { AttachmentsConfig } from '../config/schema.ts';
import { ATTACHMENT_ID, ChatError, CONVERSATION_ID, ErrorCode } from '../protocol/index.ts';
import { type AttachmentMeta, type AttachmentUpload, readRange, toRef } from '../storage/attachments.ts';
import type { Storage } from '../storage/types.ts';
import type { Logger } from '../util/log.ts';
import { UploadSink } from './attachment-upload.ts';
import type { Identity } from './auth.ts';
import { type Headers, HttpReply } from './http-reply.ts';
import type { HttpApp, HttpRequest, HttpResponse } from './transport/types.ts';

export interface AttachmentHost {
  readonly auth: { verifySync(token: string | null): Identity };
  readonly chat: {
    requireParticipant(conversationId: string, userId: string): Promise<void>;
    /** As `requireParticipant`, and refused (`blocked`) where the caller may not write. */
    requireSender(conversationId: string, userId: string): Promise<void>;
  };
  readonly storage: Storage;
  readonly config: AttachmentsConfig;
  readonly log: Logger;
}

/** Longest file name kept (characters). */
const NAME_MAX = 255;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A new attachment id: 16 random bytes, base64url (unguessable, so ids never leak who uploads). */
export function newAttachmentId(): string {
  return randomBytes(16).toString('base64url');
}

function bearer(header: string): string | null {
  return header.startsWith('Bearer ') ? header.slice(7) : null;
}

function authenticate(host: AttachmentHost, header: string): Identity {
  try {
    return host.auth.verifySync(bearer(header));
  } catch (err) {
    throw new ChatError(ErrorCode.Unauthorized, err instanceof Error ? err.message : 'bad token');
  }
}

const notFound = () => new ChatError(ErrorCode.NotFound, 'no such attachment');

export function registerAttachmentRoutes(app: HttpApp, host: AttachmentHost): void {
  app.post('/attachments', (res, req) => upload(host, res, req));
  app.get('/attachments/:id', (res, req) => download(host, res, req));
}

function upload(host: AttachmentHost, res: HttpResponse, req: HttpRequest): void {
  // Everything is read from `req` now: it is gone once this handler returns.
  const authorization = req.getHeader('authorization');
  const contentType = (req.getHeader('content-type').split(';')[0] ?? '').trim().toLowerCase();
  const length = req.getHeader('content-length');
  const conversationId = req.getQuery('conversationId') ?? '';
  const rawName = req.getQuery('name') ?? '';
  const reply = new HttpReply(res);
  const { maxBytes, allowedTypes, uploadTimeoutMs } = host.config;
  let userId: string;
  try {
    userId = authenticate(host, authorization).userId;
    if (!CONVERSATION_ID.test(conversationId)) {
      throw new ChatError(ErrorCode.InvalidField, 'conversationId: bad format', { field: 'conversationId' });
    }
    if (rawName.length > NAME_MAX || CONTROL.test(rawName)) {
      throw new ChatError(ErrorCode.InvalidField, `name: up to ${NAME_MAX} printable characters`, {
        field: 'name',
      });
    }
    if (!allowedTypes.includes(contentType)) {
      throw new ChatError(ErrorCode.UnsupportedType, `content type ${contentType || '(none)'} not allowed`, {
        allowed: allowedTypes.join(','),
      });
    }
    // Refused before a byte of the body is read, when the client says how long it is.
    if (length !== '' && Number(length) > maxBytes) {
      throw new ChatError(ErrorCode.TooLarge, `attachment exceeds ${maxBytes} bytes`, { maxBytes });
    }
  } catch (err) {
    reply.fail(err, true);
    return;
  }
  const up: AttachmentUpload = { id: newAttachmentId(), conversationId, startedAt: Date.now() };
  const store = host.storage.attachments;
  const ready = host.chat.requireSender(conversationId, userId).then(() => store.begin(up));
  const sink = new UploadSink(
    store,
    { upload: up, uploaderId: userId, contentType, name: rawName === '' ? null : rawName, maxBytes },
    (paused) => reply.flow(paused),
    ready,
  );
  let settled = false;
  const fail = (err: unknown, status?: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (!(err instanceof ChatError)) host.log.error({ err, attachmentId: up.id }, 'attachment upload failed');
    reply.fail(storeFailure(err), true, status);
    sink.discard().catch((e: unknown) => {
      // Its chunks stay until the sweeper removes them (the in-progress record is there).
      host.log.warn({ err: e, attachmentId: up.id }, 'could not discard a failed upload');
    });
  };
  const timer = setTimeout(
    () =>
      fail(
        new ChatError(ErrorCode.Unavailable, `upload took longer than ${uploadTimeoutMs} ms`),
        '408 Request Timeout',
      ),
    uploadTimeoutMs,
  );
  // A user who may not post here hears so at once, not after sending the whole file.
  ready.catch((err: unknown) => fail(err));
  reply.onAborted(() => fail(new ChatError(ErrorCode.InvalidField, 'upload aborted by the client')));
  res.onData((chunk, isLast) => {
    if (settled) return;
    try {
      sink.push(chunk);
    } catch (err) {
      fail(err);
      return;
    }
    if (!isLast) return;
    sink.finish().then((meta) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reply.json('201 Created', { attachment: toRef(meta) }, { 'cache-control': 'no-store' });
    }, fail);
  });
}

/** A store failure (anything but a typed error) is `unavailable`: the client may retry the upload. */
function storeFailure(err: unknown): unknown {
  return err instanceof ChatError
    ? err
    : new ChatError(ErrorCode.Unavailable, 'attachment could not be stored; retry', undefined, {
        cause: err,
      });
}

function download(host: AttachmentHost, res: HttpResponse, req: HttpRequest): void {
  const id = req.getParameter(0) ?? '';
  const authorization = req.getHeader('authorization');
  const range = req.getHeader('range');
  const ifNoneMatch = req.getHeader('if-none-match');
  const reply = new HttpReply(res);
  (async () => {
    const { userId } = authenticate(host, authorization);
    if (!ATTACHMENT_ID.test(id)) throw notFound();
    const meta = await host.storage.attachments.get(id).catch((err: unknown) => {
      throw storeFailure(err);
    });
    if (!meta) throw notFound();
    await host.chat.requireParticipant(meta.conversationId, userId).catch(() => {
      throw notFound();
    });
    await serve(host, reply, meta, range, ifNoneMatch);
  })().catch((err: unknown) => {
    if (!(err instanceof ChatError)) host.log.error({ err, attachmentId: id }, 'attachment download failed');
    reply.fail(storeFailure(err));
  });
}

async function serve(
  host: AttachmentHost,
  reply: HttpReply,
  meta: AttachmentMeta,
  range: string,
  ifNoneMatch: string,
): Promise<void> {
  const etag = `"${meta.id}"`;
  // The bytes of an id never change, but access can (a member removed, the message deleted):
  // browsers keep a private copy and revalidate it every time (a 304 costs one metadata read).
  const common: Headers = {
    etag,
    'cache-control': 'private, no-cache',
    'accept-ranges': 'bytes',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'content-disposition': disposition(meta),
  };
  if (ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    reply.endEmpty('304 Not Modified', common);
    return;
  }
  const headers: Headers = { ...common, 'content-type': meta.contentType };
  const parsed = parseRange(range, meta.size);
  if (parsed === 'unsatisfiable') {
    reply.end('416 Range Not Satisfiable', { ...common, 'content-range': `bytes */${meta.size}` });
    return;
  }
  const store = host.storage.attachments;
  if (parsed === null) {
    await reply.stream('200 OK', headers, meta.size, readRange(store, meta, 0, meta.size - 1));
    return;
  }
  const [start, end] = parsed;
  await reply.stream(
    '206 Partial Content',
    { ...headers, 'content-range': `bytes ${start}-${end}/${meta.size}` },
    end - start + 1,
    readRange(store, meta, start, end),
  );
}

/** `inline` for images (shown in place), `attachment` otherwise, with the name RFC 6266-encoded. */
function disposition(meta: AttachmentMeta): string {
  const kind = meta.contentType.startsWith('image/') ? 'inline' : 'attachment';
  return meta.name ? `${kind}; filename*=UTF-8''${encodeURIComponent(meta.name)}` : kind;
}

/**
 * One `bytes=` range (RFC 9110 §14.1.2) as inclusive [start, end] clamped to the file, null for
 * no range or one this endpoint ignores (several ranges, another unit: the whole file is sent,
 * as the RFC allows), or 'unsatisfiable' (416).
 */
export function parseRange(header: string, size: number): [number, number] | null | 'unsatisfiable' {
  if (header === '') return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return header.trim().startsWith('bytes=') && !header.includes(',') ? 'unsatisfiable' : null;
  const [, from = '', to = ''] = m;
  if (from === '' && to === '') return 'unsatisfiable';
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}
