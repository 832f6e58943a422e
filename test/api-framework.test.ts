/**
 * The server API's framework on its own (no gateway): authentication by key and by admin JWT,
 * validation, error bodies and statuses, the body limit, and the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { ApiAudit } from '../src/api/audit.ts';
import { ApiAuth } from '../src/api/auth.ts';
import { ApiHandler, type HttpRequestLike } from '../src/api/handler.ts';
import { ApiRateLimit } from '../src/api/rate-limit.ts';
import type { ApiRoute } from '../src/api/route.ts';
import { ERROR_STATUS } from '../src/api/status.ts';
import { apiSchema, authSchema } from '../src/config/schema.ts';
import { ChatError, ERRORS, ErrorCode } from '../src/protocol/index.ts';
import { silentLogger } from '../src/util/log.ts';
import { collectingLogger } from './helpers/log.ts';

const SECRET = 'test-secret-at-least-16-chars';
const KEY = 'k'.repeat(32);

const echoBody = z.object({ name: z.string().min(1), count: z.number().int().optional() });
const routes: ApiRoute[] = [
  {
    method: 'POST',
    path: '/v1/things/{thingId}',
    operationId: 'makeThing',
    summary: 'echo',
    tag: 'things',
    body: echoBody,
    response: z.object({ id: z.string(), name: z.string(), by: z.string(), key: z.string().nullable() }),
    status: 201,
    async handle(req) {
      const b = req.body as z.infer<typeof echoBody>;
      return {
        id: req.params.thingId,
        name: b.name,
        by: `${req.principal.kind}:${req.principal.id}`,
        key: req.idempotencyKey,
      };
    },
  },
  {
    method: 'GET',
    path: '/v1/fail/{code}',
    operationId: 'fail',
    summary: 'throws the code asked for',
    tag: 'things',
    response: z.object({}),
    async handle(req) {
      const code = req.params.code;
      if (code === 'boom') throw new Error('not a ChatError');
      throw new ChatError(code as ErrorCode, 'asked for', { field: 'x', requestId: 'api' });
    },
  },
];

function handler(
  opts: {
    keys?: Record<string, string>;
    maxBodyBytes?: number;
    revoked?: boolean;
    rateLimit?: ApiRateLimit;
    audit?: ApiAudit;
  } = {},
) {
  const api = apiSchema.parse({
    keys: opts.keys ?? { backend: KEY },
    maxBodyBytes: opts.maxBodyBytes ?? 2048,
  });
  const auth = authSchema.parse({ secret: SECRET });
  return new ApiHandler({
    routes,
    auth: new ApiAuth(api, auth, () => opts.revoked === true),
    maxBodyBytes: api.maxBodyBytes,
    version: 'test',
    log: silentLogger,
    ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
    ...(opts.audit ? { audit: opts.audit } : {}),
  });
}

function req(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): HttpRequestLike {
  const [p, q] = path.split('?');
  return {
    method,
    path: p!,
    query: q ?? '',
    headers: { authorization: `Bearer ${KEY}`, ...headers },
    body:
      body === undefined
        ? new Uint8Array(0)
        : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

async function adminJwt(claims: Record<string, unknown>, sub = 'opsuser'): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(createSecretKey(Buffer.from(SECRET)));
}

const errorOf = (body: string) =>
  (JSON.parse(body) as { error: { code: string; details?: Record<string, unknown> } }).error;

describe('server API framework', () => {
  it('answers a valid call with the route status and JSON body', async () => {
    const r = await handler().handle(
      req('POST', '/api/v1/things/t1', { name: 'a' }, { 'idempotency-key': 'key-1' }),
    );
    assert.equal(r.status, 201);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(r.body), { id: 't1', name: 'a', by: 'api-key:backend', key: 'key-1' });
  });

  it('refuses a missing or wrong key with 401 unauthorized', async () => {
    const h = handler();
    for (const authorization of ['', 'Bearer nope', `Basic ${KEY}`, `Bearer ${KEY}x`]) {
      const r = await h.handle(req('POST', '/api/v1/things/t1', { name: 'a' }, { authorization }));
      assert.equal(r.status, 401, authorization);
      assert.equal(errorOf(r.body).code, ErrorCode.Unauthorized);
    }
  });

  it('accepts a JWT with the admin claim, not one without it, nor a revoked one', async () => {
    const ok = await handler().handle(
      req(
        'POST',
        '/api/v1/things/t1',
        { name: 'a' },
        { authorization: `Bearer ${await adminJwt({ admin: true })}` },
      ),
    );
    assert.equal(ok.status, 201);
    assert.equal((JSON.parse(ok.body) as { by: string }).by, 'admin-jwt:opsuser');
    const plain = await handler().handle(
      req('POST', '/api/v1/things/t1', { name: 'a' }, { authorization: `Bearer ${await adminJwt({})}` }),
    );
    assert.equal(plain.status, 401);
    const revoked = await handler({ revoked: true }).handle(
      req(
        'POST',
        '/api/v1/things/t1',
        { name: 'a' },
        { authorization: `Bearer ${await adminJwt({ admin: true })}` },
      ),
    );
    assert.equal(revoked.status, 401);
  });

  it('is off (404 for everything, the document too) with no keys configured', async () => {
    const h = handler({ keys: {} });
    assert.equal((await h.handle(req('POST', '/api/v1/things/t1', { name: 'a' }))).status, 404);
    assert.equal((await h.handle(req('GET', '/api/openapi.json'))).status, 404);
  });

  it('refuses an invalid body with 400 invalid_field naming the field', async () => {
    const h = handler();
    const missing = await h.handle(req('POST', '/api/v1/things/t1', { count: 1 }));
    assert.equal(missing.status, 400);
    assert.deepEqual(errorOf(missing.body), {
      ...errorOf(missing.body),
      code: 'invalid_field',
      details: { field: 'name' },
    });
    const wrongType = await h.handle(req('POST', '/api/v1/things/t1', { name: 'a', count: 1.5 }));
    assert.equal(errorOf(wrongType.body).details?.field, 'count');
    const notJson = await h.handle(req('POST', '/api/v1/things/t1', '{nope'));
    assert.equal(notJson.status, 400);
    assert.equal(errorOf(notJson.body).code, ErrorCode.BadFrame);
    const badKey = await h.handle(
      req('POST', '/api/v1/things/t1', { name: 'a' }, { 'idempotency-key': 'with space' }),
    );
    assert.equal(errorOf(badKey.body).details?.field, 'Idempotency-Key');
  });

  it('refuses a body over the limit with 413 too_large', async () => {
    const r = await handler({ maxBodyBytes: 1024 }).handle(
      req('POST', '/api/v1/things/t1', { name: 'x'.repeat(2000) }),
    );
    assert.equal(r.status, 413);
    assert.equal(errorOf(r.body).code, ErrorCode.TooLarge);
  });

  it('maps every catalogue code to its status, in the uniform error body without the request id', async () => {
    const h = handler();
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const r = await h.handle(req('GET', `/api/v1/fail/${code}`));
      assert.equal(r.status, ERROR_STATUS[code], code);
      assert.deepEqual(JSON.parse(r.body), {
        error: { code, message: 'asked for', details: { field: 'x' } },
      });
    }
    assert.equal(ERROR_STATUS.not_found, 404);
    assert.equal(ERROR_STATUS.forbidden, 403);
    assert.equal(ERROR_STATUS.unauthorized, 401);
    assert.equal(ERROR_STATUS.rate_limited, 429);
    assert.equal(ERROR_STATUS.unavailable, 503);
    const internal = await h.handle(req('GET', '/api/v1/fail/boom'));
    assert.equal(internal.status, 500);
    assert.equal(errorOf(internal.body).code, ErrorCode.Internal);
  });

  it('limits calls per caller: 429 rate_limited with Retry-After, other callers unaffected, refilled in time', async () => {
    let now = 1_000_000;
    const other = 'o'.repeat(32);
    const h = handler({ keys: { backend: KEY, other }, rateLimit: new ApiRateLimit(2, 3, () => now) });
    const call = (key = KEY) =>
      h.handle(req('POST', '/api/v1/things/t', { name: 'a' }, { authorization: `Bearer ${key}` }));
    for (let i = 0; i < 3; i++) assert.equal((await call()).status, 201);
    const refused = await call();
    assert.equal(refused.status, 429);
    assert.equal(errorOf(refused.body).code, 'rate_limited');
    assert.equal(errorOf(refused.body).details?.retryAfterMs, 500);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal((await call(other)).status, 201, 'another key has its own bucket');
    now += 500;
    assert.equal((await call()).status, 201, 'one call back after 1/rate seconds');
    assert.equal((await call()).status, 429);
  });

  it('counts every call by route and status, and logs writes and refusals with the caller, not successful reads', async () => {
    const registry = new Registry();
    const { log, records } = collectingLogger();
    const h = handler({ audit: new ApiAudit(registry, log) });
    await h.handle(req('POST', '/api/v1/things/t9', { name: 'a' }, { 'idempotency-key': 'k9' }));
    await h.handle(req('GET', '/api/v1/fail/not_found'));
    await h.handle(req('POST', '/api/v1/things/t9', { name: 'a' }, { authorization: 'Bearer nope' }));
    await h.handle(req('GET', '/api/v1/nowhere'));
    const counted = (await registry.getSingleMetric('chat_api_requests_total')!.get()).values.map((v) => [
      v.labels.route,
      v.labels.status,
      v.value,
    ]);
    assert.deepEqual(
      counted.sort(),
      [
        ['fail', '404', 1],
        ['makeThing', '201', 1],
        ['makeThing', '401', 1],
        ['none', '404', 1],
      ].sort(),
    );
    const logged = records.map((r) => [r.route, r.caller, r.status, r.code, r.idempotencyKey]);
    assert.deepEqual(logged, [
      ['makeThing', 'api-key:backend', 201, null, 'k9'],
      ['fail', 'api-key:backend', 404, 'not_found', null],
      ['makeThing', null, 401, 'unauthorized', null],
      [null, null, 404, 'not_found', null],
    ]);
  });

  it('answers 404 not_found for an unknown path or method', async () => {
    const h = handler();
    assert.equal((await h.handle(req('GET', '/api/v1/nothing'))).status, 404);
    assert.equal((await h.handle(req('DELETE', '/api/v1/things/t1'))).status, 404);
  });

  it('serves an OpenAPI 3.1 document listing every route, without auth', async () => {
    const r = await handler().handle(req('GET', '/api/openapi.json', undefined, { authorization: '' }));
    assert.equal(r.status, 200);
    const doc = JSON.parse(r.body) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<
        string,
        Record<string, { operationId: string; requestBody?: unknown; responses: Record<string, unknown> }>
      >;
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.info.title && doc.info.version);
    for (const route of routes) {
      const op = doc.paths[`/api${route.path}`]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.path} documented`);
      assert.equal(op.operationId, route.operationId);
      assert.ok(op.responses[String(route.status ?? 200)]);
      assert.equal(op.requestBody !== undefined, route.body !== undefined);
    }
    assert.ok(doc.components.securitySchemes.bearer);
    assert.ok(doc.components.schemas.Error);
  });
});
