/** The SDK's attachment calls against an embedded gateway: upload, send, receive, download, typed errors. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  ChatClient,
  ChatClientError,
  httpBase,
  type WebSocketLike,
  type WireMessage,
} from '../src/client/index.ts';
import { tinyPng } from './attachments.scenarios.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';

let seq = 0;
const user = (name: string) => `${name}${++seq}_${process.pid}x`;

describe('SDK attachments', () => {
  let gw: TestGateway;
  const clients: ChatClient[] = [];
  const open = async (userId: string) => {
    const c = new ChatClient({
      urls: [gw.url],
      token: () => token(userId),
      WebSocket: WebSocket as unknown as new (url: string, protocols?: string | string[]) => WebSocketLike,
      pingIntervalMs: 0,
    });
    clients.push(c);
    await c.connect();
    return c;
  };

  before(async () => {
    gw = await startTestGateway({ config: testConfig({}, { attachments: { maxBytes: 100_000 } }) });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.stop();
  });

  it('derives the HTTP origin from a gateway URL', () => {
    assert.equal(httpBase('wss://eu.example.com/ws'), 'https://eu.example.com');
    assert.equal(httpBase('ws://127.0.0.1:8080/ws?x=1'), 'http://127.0.0.1:8080');
  });

  it('uploads, sends with attachments, and the recipient downloads the file', async () => {
    const alice = user('alice');
    const bob = user('bob');
    const a = await open(alice);
    const b = await open(bob);
    const conv = (await a.createGroup('pics', [bob])).id;
    const png = tinyPng(7, 9);
    const att = await a.uploadAttachment(conv, new Blob([png]), { contentType: 'image/png', name: 'p.png' });
    assert.deepEqual([att.width, att.height, att.size, att.name], [7, 9, png.byteLength, 'p.png']);
    const received = new Promise<WireMessage>((resolve) => b.on('message', (m) => resolve(m)));
    await a.send(conv, '', { attachments: [att.id] });
    const m = await received;
    assert.deepEqual(m.attachments, [att]);
    const blob = await b.downloadAttachment(att.id);
    assert.equal(blob.type, 'image/png');
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), png);
    const part = await b.downloadAttachment(att.id, { range: { start: 1, end: 3 } });
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), png.subarray(1, 4));
  });

  it('rejects with typed errors', async () => {
    const alice = user('alice');
    const a = await open(alice);
    const conv = (await a.createGroup('x', [user('bob')])).id;
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (e instanceof ChatClientError ? e.code : String(e)),
      );
    assert.equal(
      await code(a.uploadAttachment(conv, randomBytes(100_001), { contentType: 'text/plain' })),
      'too_large',
    );
    assert.equal(
      await code(a.uploadAttachment(conv, randomBytes(10), { contentType: 'text/html' })),
      'unsupported_type',
    );
    assert.equal(
      await code(a.uploadAttachment('g:1', randomBytes(10), { contentType: 'text/plain' })),
      'not_found',
    );
    assert.equal(await code(a.downloadAttachment(randomBytes(16).toString('base64url'))), 'not_found');
    assert.equal(await code(a.send(conv, '')), 'invalid_field');
  });
});
