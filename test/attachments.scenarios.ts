/**
 * Attachments end to end over HTTP and both transports, run against an embedded gateway and
 * against gateways on Cassandra + Redis + NATS: upload limits and typed errors, range requests,
 * image dimensions, and a message referencing an attachment delivered on the raw protocol and
 * on Socket.IO. `urls` are the gateways' WebSocket URLs (their HTTP origin is the same).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TestClient } from './helpers/client.ts';
import { token } from './helpers/gateway.ts';
import { IoTestClient, ioUrl } from './helpers/io-client.ts';

export interface AttachmentEnv {
  urls: string[];
  /** The gateways' `attachments.maxBytes`. */
  maxBytes: number;
  stop(): Promise<void>;
}

/** A 3×2 PNG: signature, IHDR (width 3, height 2), no image data needed for its header. */
export function tinyPng(width = 3, height = 2): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'ascii');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.writeUInt8(8, 16);
  ihdr.writeUInt8(6, 17);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    ihdr,
    randomBytes(64),
  ]);
}

let seq = 0;
const user = (name: string) => `${name}${process.pid}a${Date.now().toString(36)}x${++seq}`;
const httpOf = (wsUrl: string) => wsUrl.replace(/^ws/, 'http').replace(/\/ws$/, '');

export interface UploadResult {
  status: number;
  body: {
    attachment?: { id: string; width: number | null; height: number | null; size: number };
    error?: { code: string };
  };
}

export async function uploadTo(
  base: string,
  tok: string | null,
  conversationId: string,
  body: Uint8Array,
  contentType: string,
  name = 'file',
): Promise<UploadResult> {
  const res = await fetch(
    `${base}/attachments?conversationId=${encodeURIComponent(conversationId)}&name=${encodeURIComponent(name)}`,
    {
      method: 'POST',
      headers: { 'content-type': contentType, ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
      body,
    },
  );
  return { status: res.status, body: (await res.json()) as UploadResult['body'] };
}

export function attachmentScenarios(name: string, setup: () => Promise<AttachmentEnv>): void {
  describe(`attachments: ${name}`, () => {
    let env: AttachmentEnv;
    let base: string;
    const clients: (TestClient | IoTestClient)[] = [];
    let alice: string;
    let bob: string;
    let group: string;
    let aliceTok: string;

    before(async () => {
      env = await setup();
      base = httpOf(env.urls[0]!);
      alice = user('alice');
      bob = user('bob');
      aliceTok = await token(alice);
      const a = await TestClient.connect(env.urls[0]!, aliceTok);
      clients.push(a);
      await a.waitFor((f) => f.op === 'synced', 30_000);
      group = (await a.call('createGroup', { title: 'files', members: [bob] })).conversation.id;
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await env?.stop();
    });

    const get = (id: string, headers: Record<string, string> = {}, tok: string | null = aliceTok) =>
      fetch(`${base}/attachments/${id}`, {
        headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...headers },
      });

    it('uploads a file and serves it whole and by ranges to members', async () => {
      const bytes = randomBytes(300_000);
      const up = await uploadTo(base, aliceTok, group, bytes, 'application/pdf', 'report.pdf');
      assert.equal(up.status, 201);
      const id = up.body.attachment!.id;
      assert.equal(up.body.attachment!.size, bytes.byteLength);
      const whole = await get(id, {}, await token(bob));
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get('content-type'), 'application/pdf');
      assert.equal(whole.headers.get('content-length'), String(bytes.byteLength));
      assert.equal(whole.headers.get('accept-ranges'), 'bytes');
      assert.match(whole.headers.get('cache-control') ?? '', /private/);
      assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
      const etag = whole.headers.get('etag')!;
      assert.equal((await get(id, { 'if-none-match': etag })).status, 304);
      for (const [range, from, to] of [
        ['bytes=0-9', 0, 9],
        ['bytes=262140-262150', 262140, 262150],
        ['bytes=299990-', 299990, 299999],
        ['bytes=-5', 299995, 299999],
        ['bytes=299000-400000', 299000, 299999],
      ] as const) {
        const part = await get(id, { range });
        assert.equal(part.status, 206, range);
        assert.equal(part.headers.get('content-range'), `bytes ${from}-${to}/${bytes.byteLength}`);
        assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(from, to + 1), range);
      }
      const bad = await get(id, { range: 'bytes=300000-' });
      assert.equal(bad.status, 416);
      assert.equal(bad.headers.get('content-range'), `bytes */${bytes.byteLength}`);
      await bad.arrayBuffer();
    });

    it('refuses with typed errors: too large, wrong type, not a member, unknown id, bad token', async () => {
      const tooLarge = await uploadTo(base, aliceTok, group, randomBytes(env.maxBytes + 1), 'text/plain');
      assert.deepEqual([tooLarge.status, tooLarge.body.error?.code], [413, 'too_large']);
      const wrongType = await uploadTo(base, aliceTok, group, randomBytes(10), 'text/html');
      assert.deepEqual([wrongType.status, wrongType.body.error?.code], [415, 'unsupported_type']);
      const mallory = await token(user('mallory'));
      const outsider = await uploadTo(base, mallory, group, randomBytes(10), 'text/plain');
      assert.deepEqual([outsider.status, outsider.body.error?.code], [404, 'not_found']);
      const badToken = await uploadTo(base, 'not-a-token', group, randomBytes(10), 'text/plain');
      assert.deepEqual([badToken.status, badToken.body.error?.code], [401, 'unauthorized']);
      const noToken = await uploadTo(base, null, group, randomBytes(10), 'text/plain');
      assert.equal(noToken.status, 401);
      const notImage = await uploadTo(base, aliceTok, group, randomBytes(100), 'image/png');
      assert.deepEqual([notImage.status, notImage.body.error?.code], [400, 'invalid_field']);

      const ok = await uploadTo(base, aliceTok, group, randomBytes(10), 'text/plain');
      const id = ok.body.attachment!.id;
      const unknown = await get(randomBytes(16).toString('base64url'));
      assert.deepEqual(
        [unknown.status, ((await unknown.json()) as UploadResult['body']).error?.code],
        [404, 'not_found'],
      );
      const notMember = await get(id, {}, mallory);
      assert.deepEqual(
        [notMember.status, ((await notMember.json()) as UploadResult['body']).error?.code],
        [404, 'not_found'],
      );
      const unauth = await get(id, {}, 'bad');
      assert.deepEqual(
        [unauth.status, ((await unauth.json()) as UploadResult['body']).error?.code],
        [401, 'unauthorized'],
      );
    });

    it('a body with no Content-Length is cut off with too_large once it passes the limit', async () => {
      const piece = randomBytes(64 * 1024);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          // Never ends by itself: the server must stop it.
          sent += piece.byteLength;
          controller.enqueue(piece);
          if (sent > env.maxBytes * 4) controller.close();
        },
      });
      const res = await fetch(`${base}/attachments?conversationId=${encodeURIComponent(group)}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: `Bearer ${aliceTok}` },
        body,
        duplex: 'half',
      } as RequestInit);
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as UploadResult['body']).error?.code, 'too_large');
    });

    it('a client that goes away mid-upload leaves the gateway serving', async () => {
      const ac = new AbortController();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          sent += 64 * 1024;
          controller.enqueue(randomBytes(64 * 1024));
          // Gone after a few chunks, well under the limit (and the stream ends: fetch would
          // otherwise keep reading it).
          if (sent >= 256 * 1024) {
            ac.abort();
            controller.close();
          }
        },
      });
      await assert.rejects(
        fetch(`${base}/attachments?conversationId=${encodeURIComponent(group)}`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain', authorization: `Bearer ${aliceTok}` },
          body,
          duplex: 'half',
          signal: ac.signal,
        } as RequestInit),
      );
      const ok = await uploadTo(base, aliceTok, group, randomBytes(10), 'text/plain');
      assert.equal(ok.status, 201);
    });

    it('images carry width and height', async () => {
      const up = await uploadTo(base, aliceTok, group, tinyPng(3, 2), 'image/png', 'dot.png');
      assert.equal(up.status, 201);
      assert.deepEqual([up.body.attachment!.width, up.body.attachment!.height], [3, 2]);
    });

    it('a message with an attachment reaches members on the raw protocol and Socket.IO', async () => {
      const up = await uploadTo(base, aliceTok, group, tinyPng(5, 4), 'image/png', 'pic.png');
      const ref = up.body.attachment!;
      const bobTok = await token(bob);
      const raw = await TestClient.connect(env.urls[1 % env.urls.length]!, bobTok, { device: 'raw' });
      const io = await IoTestClient.connect(ioUrl(env.urls[0]!), bobTok, { device: 'io' });
      clients.push(raw, io);
      await raw.waitFor((f) => f.op === 'synced', 30_000);
      await io.waitFor((f) => f.op === 'synced', 30_000);
      const a = clients[0] as TestClient;
      const sent = await a.request('send', { conversationId: group, body: '', attachments: [ref.id] });
      assert.equal(sent.op, 'sent', JSON.stringify(sent));
      const expected = [
        { id: ref.id, contentType: 'image/png', size: ref.size, name: 'pic.png', width: 5, height: 4 },
      ];
      for (const c of [raw, io]) {
        const m = await c.waitFor(
          (f) => f.op === 'message' && (f.message as { id: string }).id === sent.messageId,
          10_000,
        );
        assert.deepEqual((m.message as { attachments?: unknown }).attachments, expected);
      }
      const history = await a.call('history', { conversationId: group, limit: 1 });
      assert.deepEqual(history.messages[0]?.attachments, expected);
    });

    it('deleting a message removes its attachments', async () => {
      const up = await uploadTo(base, aliceTok, group, randomBytes(1000), 'text/plain', 'gone.txt');
      const id = up.body.attachment!.id;
      const a = clients[0] as TestClient;
      const sent = await a.request('send', { conversationId: group, body: 'soon gone', attachments: [id] });
      const removed = await a.call('delete', { conversationId: group, messageId: sent.messageId });
      assert.equal(removed.message.attachments, undefined);
      const res = await get(id);
      assert.equal(res.status, 404);
      await res.arrayBuffer();
      const history = await a.call('history', { conversationId: group, limit: 5 });
      const m = history.messages.find((x) => x.id === sent.messageId);
      assert.equal(m?.state?.deleted, true);
      assert.equal(m?.attachments, undefined);
    });

    it('send refuses attachments that are unknown, another user’s or another conversation’s', async () => {
      const a = clients[0] as TestClient;
      const bobTok = await token(bob);
      const bobs = await uploadTo(base, bobTok, group, randomBytes(10), 'text/plain');
      for (const id of [randomBytes(16).toString('base64url'), bobs.body.attachment!.id]) {
        const r = await a.request('send', { conversationId: group, body: 'x', attachments: [id] });
        assert.equal(r.op, 'error');
        assert.equal(r.code, 'not_found');
      }
      const malformed = await a.request('send', { conversationId: group, body: 'x', attachments: ['nope'] });
      assert.equal(malformed.code, 'invalid_field');
      const empty = await a.request('send', { conversationId: group, body: '' });
      assert.equal(empty.code, 'invalid_field');
    });
  });
}
