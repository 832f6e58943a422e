/**
 * The server API as a function from a request to a response, independent of the HTTP server
 * that carries it (`uws.ts` adapts uWebSockets.js; a `node:http` transport can adapt the same):
 * routing by method and path template, authentication, the body size limit, JSON parsing, zod
 * validation (`invalid_field` naming the field), and every failure as the uniform error body
 * `{error: {code, message, details}}` with the status its code maps to (`status.ts`).
 */
import { isTransientBackendError } from '../errors.ts';
import { ChatError, ErrorCode } from '../protocol/index.ts';
import type { Logger } from '../util/log.ts';
import type { ApiAudit } from './audit.ts';
import type { ApiAuth } from './auth.ts';
import { type JsonObject, openApiDocument, pathParams } from './openapi.ts';
import type { ApiRateLimit } from './rate-limit.ts';
import { API_PREFIX, type ApiMethod, type ApiPrincipal, type ApiRoute } from './route.ts';
import { ERROR_STATUS } from './status.ts';

export interface HttpRequestLike {
  method: string;
  /** The path, without the query string. */
  path: string;
  /** The query string, without `?`. */
  query: string;
  /** Lowercase header names. */
  headers: Readonly<Record<string, string>>;
  body: Uint8Array;
}

export interface HttpResponseLike {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** An `Idempotency-Key`: printable ASCII, as short as a `clientMsgId` (it may become one). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,64}$/;
const METHODS: readonly ApiMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

interface CompiledRoute {
  route: ApiRoute;
  pattern: RegExp;
  names: string[];
}

export interface ApiHandlerOptions {
  routes: readonly ApiRoute[];
  auth: ApiAuth;
  maxBodyBytes: number;
  version: string;
  log: Logger;
  /** Calls per caller; none, no limit. */
  rateLimit?: ApiRateLimit;
  /** Told of every answered call (metrics, the audit log). */
  audit?: ApiAudit;
}

/** What a call got to before it was answered, for the audit. */
interface CallContext {
  operationId: string | null;
  principal: ApiPrincipal | null;
  idempotencyKey: string | null;
}

export class ApiHandler {
  private readonly compiled: CompiledRoute[];
  private document: string | null = null;

  constructor(private readonly o: ApiHandlerOptions) {
    const seen = new Set<string>();
    this.compiled = o.routes.map((route) => {
      const key = `${route.method} ${route.path}`;
      if (seen.has(key)) throw new Error(`server API: two routes for ${key}`);
      seen.add(key);
      const names = pathParams(route.path);
      const source = route.path
        .split(/\{[A-Za-z0-9_]+\}/)
        .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
        .join('([^/]+)');
      return { route, pattern: new RegExp(`^${API_PREFIX}${source}$`), names };
    });
  }

  get maxBodyBytes(): number {
    return this.o.maxBodyBytes;
  }

  /** Answers one request; never throws. */
  async handle(req: HttpRequestLike): Promise<HttpResponseLike> {
    const started = performance.now();
    const ctx: CallContext = { operationId: null, principal: null, idempotencyKey: null };
    let res: HttpResponseLike;
    let code: string | null = null;
    try {
      res = await this.answer(req, ctx);
    } catch (err) {
      const e = this.asChatError(err);
      res = errorResponse(e);
      code = e.code;
    }
    this.o.audit?.record({
      method: req.method.toUpperCase(),
      path: req.path,
      ...ctx,
      status: res.status,
      code,
      ms: Math.round(performance.now() - started),
    });
    return res;
  }

  /** The error response for `err` (a transport's own refusals, such as a body over the limit, too). */
  failure(err: unknown): HttpResponseLike {
    return errorResponse(this.asChatError(err));
  }

  /** A failure as the catalogue error it is answered with (an unexpected one logged). */
  private asChatError(err: unknown): ChatError {
    if (err instanceof ChatError) return err;
    if (isTransientBackendError(err))
      return new ChatError(ErrorCode.Unavailable, 'a backing service is unavailable or overloaded; retry');
    this.o.log.error({ err }, 'server API: internal error');
    return new ChatError(ErrorCode.Internal, 'internal error');
  }

  private async answer(req: HttpRequestLike, ctx: CallContext): Promise<HttpResponseLike> {
    if (!this.o.auth.enabled)
      throw new ChatError(ErrorCode.NotFound, 'the server API is off: no api.keys configured');
    if (req.method === 'GET' && req.path === `${API_PREFIX}/openapi.json`) {
      this.document ??= JSON.stringify(openApiDocument(this.o.routes, this.o.version));
      return { status: 200, headers: { 'content-type': 'application/json' }, body: this.document };
    }
    const method = req.method.toUpperCase() as ApiMethod;
    const found = this.match(method, req.path);
    if (!found) throw new ChatError(ErrorCode.NotFound, `no route ${req.method} ${req.path}`);
    ctx.operationId = found.route.operationId;
    const principal = await this.o.auth.authenticate(req.headers.authorization);
    ctx.principal = principal;
    this.o.rateLimit?.admit(principal);
    const idempotencyKey = req.headers['idempotency-key'] ?? null;
    if (idempotencyKey !== null && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw invalid('Idempotency-Key', 'Idempotency-Key: 1-64 printable ASCII characters');
    }
    ctx.idempotencyKey = idempotencyKey;
    if (req.body.byteLength > this.o.maxBodyBytes) {
      throw new ChatError(ErrorCode.TooLarge, `request body over ${this.o.maxBodyBytes} bytes`, {
        maxBodyBytes: this.o.maxBodyBytes,
      });
    }
    const { route, params } = found;
    let body: unknown;
    if (route.body) {
      const parsed = route.body.safeParse(parseJson(req.body));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)';
        throw invalid(field, `${field}: ${issue?.message ?? 'invalid'}`);
      }
      body = parsed.data;
    }
    const result = await route.handle({
      params,
      query: new URLSearchParams(req.query),
      body,
      principal,
      idempotencyKey,
    });
    return json(route.status ?? 200, result);
  }

  private match(method: ApiMethod, path: string): { route: ApiRoute; params: Record<string, string> } | null {
    let pathMatched = false;
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method !== method) continue;
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]!);
      });
      return { route: c.route, params };
    }
    if (pathMatched && METHODS.includes(method)) {
      throw new ChatError(ErrorCode.NotFound, `${method} is not served on ${path}`);
    }
    return null;
  }
}

/** The uniform error body `{error: {code, message, details}}` with the status its code maps to. */
function errorResponse(e: ChatError): HttpResponseLike {
  const details = e.details ? { ...e.details } : undefined;
  // The WebSocket protocol's request id means nothing here.
  if (details) delete details.requestId;
  const body = {
    error: {
      code: e.code,
      message: e.message,
      ...(details && Object.keys(details).length > 0 ? { details } : {}),
    },
  };
  const headers: Record<string, string> = {};
  const retryAfter = details?.retryAfterMs;
  if (typeof retryAfter === 'number')
    headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfter / 1000)));
  return json(ERROR_STATUS[e.code], body, headers);
}

function parseJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return {};
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new ChatError(ErrorCode.BadFrame, 'the request body is not valid JSON');
  }
}

function invalid(field: string, message: string): ChatError {
  return new ChatError(ErrorCode.InvalidField, message, { field });
}

/** JSON with bigints (message ids) as decimal strings, as on the WebSocket. */
function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseLike {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null',
  };
}

export type { JsonObject };
