/**
 * The gateway on the `ws` + `node:http` transport (the one Node versions without a native
 * uWebSockets.js build get): the raw-protocol, changes, threads and moderation scenarios, the
 * attachment and server API scenarios, and Socket.IO, health, metrics and the dashboard on it.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage, request } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { parseEnv, resolveStartup } from '../src/config/env.ts';
import type { DashboardFrame } from '../src/dashboard/types.ts';
import { HttpReply } from '../src/gateway/http-reply.ts';
import { NodeTransport } from '../src/gateway/transport/node/index.ts';
import { createTransport, loadNativeUws } from '../src/gateway/transport/select.ts';
import type { HttpResponse } from '../src/gateway/transport/types.ts';
import { API_KEY, type ApiEnv, apiScenarios } from './api.scenarios.ts';
import { attachmentScenarios } from './attachments.scenarios.ts';
import { gatewayScenarios } from './gateway.scenarios.ts';
import { changeScenarios } from './gateway-changes.scenarios.ts';
import { moderationScenarios } from './gateway-moderation.scenarios.ts';
import { threadScenarios } from './gateway-threads.scenarios.ts';
import { type Frame, TestClient } from './helpers/client.ts';
import { oneEmbeddedGateway, twoEmbeddedGateways } from './helpers/embedded-envs.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, TEST_SECRET, testConfig, token, useTransport } from './helpers/gateway.ts';
import { IoTestClient, ioUrl } from './helpers/io-client.ts';

useTransport('node');

const oneGateway = () => oneEmbeddedGateway((gw) => assert.equal(gw.gateway.transport.name, 'node'));
const twoGateways = twoEmbeddedGateways;

gatewayScenarios('node transport, one gateway', oneGateway);
gatewayScenarios('node transport, two gateways on one in-process bus', twoGateways);
changeScenarios('node transport, one gateway', oneGateway);
threadScenarios('node transport, one gateway', oneGateway);
moderationScenarios('node transport, one gateway', oneGateway);

attachmentScenarios('node transport, one gateway', async () => {
  const maxBytes = 512 * 1024;
  const gw = await startTestGateway({ config: testConfig({}, { attachments: { maxBytes } }) });
  return { urls: [gw.url], maxBytes, stop: () => gw.stop() };
});

apiScenarios('node transport, one gateway', async (): Promise<ApiEnv> => {
  const gw = await startTestGateway({ config: testConfig({}, { api: { keys: { backend: API_KEY } } }) });
  return { httpUrls: [gw.httpUrl], wsUrls: [gw.url], stop: () => gw.stop() };
});

describe('transport selection', () => {
  it('auto takes uWS exactly when its native build loads here, node otherwise; node on request', () => {
    const native = 'module' in loadNativeUws();
    const auto = createTransport('auto');
    assert.equal(auto.transport.name, native ? 'uws' : 'node');
    auto.transport.close();
    const node = createTransport('node');
    assert.equal(node.transport.name, 'node');
    node.transport.close();
    if (native) assert.equal(createTransport('uws').transport.name, 'uws');
    else assert.throws(() => createTransport('uws'), /transport uws: no native uWebSockets\.js build/);
  });

  it('CHAT_TRANSPORT overrides the config, parsed with the env schema', () => {
    assert.throws(() => parseEnv({ CHAT_TRANSPORT: 'fast' }), /env\.CHAT_TRANSPORT/);
    assert.equal(resolveStartup(parseEnv({})).config.transport, 'auto');
    assert.equal(resolveStartup(parseEnv({ CHAT_TRANSPORT: 'node' })).config.transport, 'node');
  });
});

describe('node transport: HTTP endpoints, Socket.IO, dashboard', () => {
  const operatorToken = 'node-transport-operator-token';
  const config = () =>
    testConfig(
      {},
      { auth: { secret: TEST_SECRET, devTokens: true, operatorToken }, dashboard: { intervalMs: 100 } },
    );

  it('/healthz names the transport; /metrics has chat_transport_info; unknown paths get 404', async () => {
    const gw = await startTestGateway({ config: config() });
    try {
      const health = (await (await fetch(`${gw.httpUrl}/healthz`)).json()) as Record<string, unknown>;
      assert.deepEqual(health, { status: 'ok', gatewayId: gw.gateway.gatewayId, transport: 'node' });
      const metrics = await fetch(`${gw.httpUrl}/metrics`, {
        headers: { authorization: `Bearer ${operatorToken}` },
      });
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^chat_transport_info\{transport="node"\} 1$/m);
      assert.equal((await fetch(`${gw.httpUrl}/metrics`)).status, 401);
      assert.equal((await fetch(`${gw.httpUrl}/nowhere`)).status, 404);
      const ready = await fetch(`${gw.httpUrl}/readyz`);
      assert.equal(ready.status, 200);
      const dev = (await (await fetch(`${gw.httpUrl}/dev/token?user=alice`)).json()) as { userId: string };
      assert.equal(dev.userId, 'alice');
    } finally {
      await gw.stop();
    }
  });

  it('refuses a bad upgrade with the JSON error body; serves the subprotocol', async () => {
    const gw = await startTestGateway({ config: config() });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${gw.url}?token=garbage`);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error('opened')));
        ws.on('error', () => {});
      });
      assert.equal(status, 401);
      const c = await TestClient.connect(gw.url, await token('alice'));
      await c.waitFor((f) => f.op === 'synced');
      await c.close();
    } finally {
      await gw.stop();
    }
  });

  it('Socket.IO (websocket and polling) and /ws exchange messages on one gateway', async () => {
    const gw = await startTestGateway({ config: config() });
    const url = ioUrl(gw.url);
    const ioWs = await IoTestClient.connect(url, await token('alice'), { transports: ['websocket'] });
    const ioPoll = await IoTestClient.connect(url, await token('carol'), { transports: ['polling'] });
    const raw = await TestClient.connect(gw.url, await token('bob'));
    try {
      await ioWs.waitFor((f) => f.op === 'synced');
      await ioPoll.waitFor((f) => f.op === 'synced');
      await raw.waitFor((f) => f.op === 'synced');
      await ioWs.call('send', { conversationId: 'dm:alice:bob', body: 'hi bob', clientMsgId: 'n1' });
      const body = (f: Frame) => (f.message as { body?: string } | undefined)?.body;
      const got = await raw.waitFor((f) => f.op === 'message' && body(f) === 'hi bob');
      assert.equal((got.message as { senderId?: string }).senderId, 'alice');
      await raw.call('send', { conversationId: 'dm:bob:carol', body: 'hi carol', clientMsgId: 'n2' });
      await ioPoll.waitFor(
        (f) => f.op === 'message' && (f.message as { body?: string })?.body === 'hi carol',
      );
    } finally {
      await Promise.all([ioWs.close(), ioPoll.close(), raw.close()]);
      await gw.stop();
    }
  });

  it('the dashboard socket streams samples; the web app is served', async () => {
    const gw = await startTestGateway({ config: config() });
    const frames: DashboardFrame[] = [];
    const wsBase = gw.httpUrl.replace('http:', 'ws:');
    const ws = new WebSocket(`${wsBase}/dashboard/ws?token=${operatorToken}`);
    try {
      ws.on('message', (d) => frames.push(JSON.parse(String(d)) as DashboardFrame));
      await new Promise((r) => ws.once('open', r));
      await eventually(() => {
        assert.equal(frames[0]?.type, 'hello');
        assert.ok(frames.some((f) => f.type === 'sample'));
      });
      const refused = await new Promise<number>((resolve) => {
        const bad = new WebSocket(`${wsBase}/dashboard/ws?token=wrong-wrong-wrong`);
        bad.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        bad.on('error', () => {});
      });
      assert.equal(refused, 401);
      const check = await fetch(`${gw.httpUrl}/dashboard/check`, {
        headers: { authorization: `Bearer ${operatorToken}` },
      });
      assert.equal(check.status, 204);
      const page = await fetch(`${gw.httpUrl}/web/config.json`);
      assert.equal(page.status, 200);
    } finally {
      ws.close();
      await gw.stop();
    }
  });
});

describe('node transport: idle sockets', () => {
  it('cuts a socket that answers no pings within the idle timeout; a live one stays', async () => {
    const gw = await startTestGateway({ config: testConfig({}, { limits: { idleTimeoutSec: 8 } }) });
    const silent = await TestClient.connect(gw.url, await token('idle-silent'));
    const live = await TestClient.connect(gw.url, await token('idle-live'));
    try {
      await silent.waitFor((f) => f.op === 'synced');
      await live.waitFor((f) => f.op === 'synced');
      assert.equal(gw.gateway.hub.connectionCount, 2);
      // Reads nothing more, so it never sees the server's pings and sends no pongs.
      (silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const started = Date.now();
      await eventually(() => assert.equal(gw.gateway.hub.connectionCount, 1), { timeoutMs: 14_000 });
      const after = Date.now() - started;
      assert.ok(after <= 13_000, `cut after ${after} ms`);
      assert.equal((await live.request('ping')).op, 'pong');
    } finally {
      // Not a closing handshake: the paused client would wait out ws's close timeout.
      silent.ws.terminate();
      await live.close();
      await gw.stop();
    }
  });
});

describe('node transport: HTTP bodies stream with backpressure', () => {
  const CHUNK = 64 * 1024;
  const TOTAL_CHUNKS = 256; // 16 MiB: far more than the socket buffers hold

  it('a download waits for a client that stops reading, then completes', async () => {
    const transport = new NodeTransport();
    let produced = 0;
    transport.app.get('/big', (res) => {
      const reply = new HttpReply(res);
      async function* chunks() {
        for (let i = 0; i < TOTAL_CHUNKS; i++) {
          produced++;
          yield Buffer.alloc(CHUNK, i % 251);
        }
      }
      void reply.stream(
        '200 OK',
        { 'content-type': 'application/octet-stream' },
        CHUNK * TOTAL_CHUNKS,
        chunks(),
      );
    });
    const port = await transport.listen('127.0.0.1', 0);
    try {
      const res = await new Promise<IncomingMessage>((resolve) =>
        get(`http://127.0.0.1:${port}/big`, resolve),
      );
      assert.equal(res.headers['content-length'], String(CHUNK * TOTAL_CHUNKS));
      res.pause();
      await delay(300);
      const held = produced;
      assert.ok(held < TOTAL_CHUNKS / 2, `produced ${held} of ${TOTAL_CHUNKS} chunks for a paused client`);
      await delay(200);
      assert.equal(produced, held, 'nothing more is produced while the client does not read');
      let received = 0;
      res.on('data', (d: Buffer) => {
        received += d.byteLength;
      });
      res.resume();
      await new Promise((r) => res.once('end', r));
      assert.equal(received, CHUNK * TOTAL_CHUNKS);
      assert.equal(produced, TOTAL_CHUNKS);
    } finally {
      transport.stopListening();
      transport.close();
    }
  });

  it('an upload is held back while the handler pauses it, then read to the end', async () => {
    const transport = new NodeTransport();
    let received = 0;
    let paused: HttpResponse | null = null;
    const done = new Promise<number>((resolve) => {
      transport.app.post('/up', (res) => {
        res.onAborted(() => {});
        res.onData((chunk, isLast) => {
          received += chunk.byteLength;
          if (paused === null) {
            paused = res;
            res.pause();
          }
          if (isLast) {
            res.end('ok');
            resolve(received);
          }
        });
      });
    });
    const port = await transport.listen('127.0.0.1', 0);
    try {
      const req = request({ host: '127.0.0.1', port, path: '/up', method: 'POST' });
      req.on('error', () => {});
      const body = Buffer.alloc(CHUNK * TOTAL_CHUNKS, 7);
      req.end(body);
      await delay(400);
      assert.ok(paused !== null, 'the first chunk arrived');
      assert.ok(received < body.byteLength / 2, `read ${received} of ${body.byteLength} bytes while paused`);
      (paused as HttpResponse).resume();
      assert.equal(await done, body.byteLength);
    } finally {
      transport.stopListening();
      transport.close();
    }
  });
});
