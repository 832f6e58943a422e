/**
 * Retention and erasure on one embedded gateway: the global period (in seconds, from config)
 * hides expired messages from every read at once and the sweeper removes them; a
 * conversation's own period (server API) overrides it either way; an erasure through the server
 * API removes the user's messages, tells connected members, and reports what went.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ApiRoute } from '../src/api/route.ts';
import { erasureRoutes } from '../src/api/routes/erasure.ts';
import { retentionRoutes } from '../src/api/routes/retention.ts';
import { globalRetentionSeconds } from '../src/config/schema.ts';
import { ChatError } from '../src/errors.ts';
import type { Gateway } from '../src/gateway/gateway.ts';
import type { WireMessage } from '../src/protocol/index.ts';
import type { ErasureRecord } from '../src/storage/retention.ts';
import { API_KEY, api } from './api.scenarios.ts';
import { TestClient } from './helpers/client.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';

async function call<R>(
  gw: Gateway,
  operationId: string,
  params: Record<string, string>,
  body?: unknown,
  idempotencyKey: string | null = null,
) {
  const routes = [...erasureRoutes(gw), ...retentionRoutes(gw)] as ApiRoute<unknown, unknown>[];
  const route = routes.find((r) => r.operationId === operationId);
  if (!route) throw new Error(`no route ${operationId}`);
  const result = await route.handle({
    params,
    query: new URLSearchParams(),
    body: route.body ? route.body.parse(body) : undefined,
    principal: { kind: 'api-key', id: 'ops' },
    idempotencyKey,
  });
  return route.response.parse(result) as R;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('retention config', () => {
  it('keeps forever by default; seconds win over days', () => {
    assert.equal(globalRetentionSeconds(testConfig().retention), 0);
    assert.equal(
      globalRetentionSeconds(testConfig({}, { retention: { messagesDays: 30 } }).retention),
      2_592_000,
    );
    assert.equal(
      globalRetentionSeconds(
        testConfig({}, { retention: { messagesDays: 30, messagesSeconds: 2 } }).retention,
      ),
      2,
    );
    assert.throws(() => testConfig({}, { retention: { messagesDays: -1 } }));
  });
});

describe('retention and erasure on an embedded gateway', () => {
  let gw: TestGateway;
  const clients: TestClient[] = [];
  const open = async (user: string) => {
    const c = await TestClient.connect(gw.url, await token(user));
    clients.push(c);
    await c.waitFor((f) => f.op === 'synced');
    return c;
  };

  before(async () => {
    // A 2 s global period; the sweeper is run by hand below.
    gw = await startTestGateway({
      config: testConfig(
        {},
        { retention: { messagesSeconds: 2, sweepIntervalMs: 3_600_000 }, api: { keys: { ops: API_KEY } } },
      ),
    });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.stop();
  });

  it('hides messages past the global period from history, search and replay, then sweeps them', async () => {
    const a = await open('ann');
    const b = await open('ben');
    const g = (await a.call('createGroup', { title: 'short', members: ['ben'] })).conversation.id;
    const old = await a.call('send', { conversationId: g, body: 'ephemeral words' });
    await b.waitFor((f) => f.op === 'message' && (f.message as WireMessage).id === old.messageId);
    await sleep(2500);
    const fresh = await a.call('send', { conversationId: g, body: 'fresh words' });
    const page = await b.call('history', { conversationId: g, limit: 10 });
    assert.deepEqual(
      page.messages.map((m) => m.id),
      [fresh.messageId],
    );
    const found = await b.call('search', { query: 'ephemeral' });
    assert.deepEqual(found.messages, []);
    // Still stored until the sweeper runs; then gone from the store itself.
    const store = gw.gateway.deps.storage;
    const result = await gw.gateway.retentionSweeper.sweep();
    assert.ok(result.removed >= 1, JSON.stringify(result));
    assert.equal(await store.getMessage(g, BigInt(old.messageId)), null);
    assert.ok(await store.getMessage(g, BigInt(fresh.messageId)));
  });

  it("a conversation's own period overrides the global one: 0 keeps its messages forever", async () => {
    const a = await open('amy');
    const g = (await a.call('createGroup', { title: 'keep', members: [] })).conversation.id;
    const set = await call<{ seconds: number | null; effectiveSeconds: number }>(
      gw.gateway,
      'setConversationRetention',
      { id: g },
      { seconds: 0 },
    );
    assert.deepEqual(set, { conversationId: g, seconds: 0, effectiveSeconds: 0 });
    const kept = await a.call('send', { conversationId: g, body: 'kept forever' });
    await sleep(2500);
    await gw.gateway.retentionSweeper.sweep();
    const page = await a.call('history', { conversationId: g, limit: 10 });
    assert.deepEqual(
      page.messages.map((m) => m.id),
      [kept.messageId],
    );
    // Cleared: the global period applies again.
    const cleared = await call<{ seconds: number | null; effectiveSeconds: number }>(
      gw.gateway,
      'setConversationRetention',
      { id: g },
      { seconds: null },
    );
    assert.deepEqual(cleared, { conversationId: g, seconds: null, effectiveSeconds: 2 });
    await eventually(async () => {
      const after = await a.call('history', { conversationId: g, limit: 10 });
      assert.deepEqual(after.messages, []);
    });
  });

  it('serves the routes over HTTP: statuses, typed errors, the OpenAPI document', async () => {
    const base = gw.httpUrl;
    assert.equal((await api(base, 'GET', '/v1/conversations/g:nope/retention')).status, 404);
    const bad = await api(base, 'PUT', '/v1/conversations/g:nope/retention', { seconds: -1 });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal((await api(base, 'GET', '/v1/erasures/nope')).status, 404);
    const asked = await api(base, 'POST', '/v1/erasures', { userId: 'nobody-at-all' });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const doc = await api(base, 'GET', '/openapi.json');
    const paths = Object.keys((doc.body as { paths: Record<string, unknown> }).paths);
    for (const p of ['/api/v1/erasures', '/api/v1/erasures/{id}', '/api/v1/conversations/{id}/retention'])
      assert.ok(paths.includes(p), `${p} in ${paths}`);
  });

  it('scripts/erase.ts requests an erasure and prints each region’s report', async () => {
    const e = await open('cli-user');
    const g = (await e.call('createGroup', { title: 'cli', members: [] })).conversation.id;
    await call(gw.gateway, 'setConversationRetention', { id: g }, { seconds: 0 });
    const sent = await e.call('send', { conversationId: g, body: 'cli private' });
    const root = join(import.meta.dirname, '..');
    const { stdout } = await promisify(execFile)(
      join(root, 'node_modules/.bin/tsx'),
      [join(root, 'scripts/erase.ts'), '--user', 'cli-user', '--url', gw.httpUrl, '--key', API_KEY],
      { cwd: root, timeout: 60_000 },
    );
    assert.match(stdout, /requested/);
    assert.match(stdout, /test: done/);
    assert.ok(stdout.includes(sent.messageId), stdout);
    assert.match(stdout, /^ {2}messages: 1$/m);
  });

  it('answers typed errors: unknown conversation, bad period, unknown erasure', async () => {
    await assert.rejects(
      call(gw.gateway, 'getConversationRetention', { id: 'g:nope' }),
      (e: unknown) => e instanceof ChatError && e.code === 'not_found',
    );
    await assert.rejects(call(gw.gateway, 'setConversationRetention', { id: 'g:nope' }, { seconds: -5 }));
    await assert.rejects(
      call(gw.gateway, 'getErasure', { id: 'nope' }),
      (e: unknown) => e instanceof ChatError && e.code === 'not_found',
    );
  });

  it('erases a user: their messages go, members are told, others stay, the report lists them', async () => {
    const e = await open('erin');
    const f = await open('fred');
    const g = (await e.call('createGroup', { title: 'erase', members: ['fred'] })).conversation.id;
    await call(gw.gateway, 'setConversationRetention', { id: g }, { seconds: 0 });
    const mine = await e.call('send', { conversationId: g, body: 'erin private' });
    const theirs = await f.call('send', { conversationId: g, body: 'fred public' });
    await f.waitFor((x) => x.op === 'message' && (x.message as WireMessage).id === mine.messageId);
    const req = await call<{ requestId: string }>(gw.gateway, 'eraseUser', {}, { userId: 'erin' });
    const told = await f.waitFor(
      (x) => x.op === 'update' && (x.message as WireMessage).id === mine.messageId,
    );
    assert.equal((told.message as WireMessage).state?.deleted, true);
    assert.equal((told.message as WireMessage).body, '');
    let records: ErasureRecord[] = [];
    await eventually(async () => {
      records = (await call<{ regions: ErasureRecord[] }>(gw.gateway, 'getErasure', { id: req.requestId }))
        .regions;
      assert.equal(records[0]?.status, 'done');
    });
    assert.deepEqual(records[0]!.report!.messageIds, [mine.messageId]);
    assert.equal(records[0]!.report!.tables.messages, 1);
    const page = await f.call('history', { conversationId: g, limit: 10 });
    assert.deepEqual(
      page.messages.map((m) => m.id),
      [theirs.messageId],
    );
    // Repeated with an Idempotency-Key: answered with the first request.
    const first = await call<{ requestId: string }>(gw.gateway, 'eraseUser', {}, { userId: 'nobody' }, 'k1');
    const again = await call<{ requestId: string }>(gw.gateway, 'eraseUser', {}, { userId: 'nobody' }, 'k1');
    assert.equal(again.requestId, first.requestId);
  });
});
