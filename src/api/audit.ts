/**
 * What the server API did, for operators: every call counted by route and status
 * (`chat_api_requests_total`), and every write — and every refused call — logged at info with
 * who made it (`component: "api-audit"`). Reads that succeed are not logged: a backend polling
 * history would drown the writes that an audit is for.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../util/log.ts';
import type { ApiPrincipal } from './route.ts';

/** One answered call, as the handler saw it. */
export interface ApiCall {
  method: string;
  path: string;
  /** The route's operationId; null when no route matched (or the API is off). */
  operationId: string | null;
  principal: ApiPrincipal | null;
  idempotencyKey: string | null;
  status: number;
  /** The error code of a failure; null on success. */
  code: string | null;
  ms: number;
}

export class ApiAudit {
  private readonly requests: Counter<'route' | 'status'>;

  constructor(
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.requests = new Counter({
      name: 'chat_api_requests_total',
      help: 'Server API calls by route (operationId; "none" when no route matched) and HTTP status',
      labelNames: ['route', 'status'],
      registers: [registry],
    });
  }

  record(call: ApiCall): void {
    this.requests.inc({ route: call.operationId ?? 'none', status: String(call.status) });
    if (call.method === 'GET' && call.code === null) return;
    const entry = {
      method: call.method,
      path: call.path,
      route: call.operationId,
      caller: call.principal ? `${call.principal.kind}:${call.principal.id}` : null,
      idempotencyKey: call.idempotencyKey,
      status: call.status,
      code: call.code,
      ms: call.ms,
    };
    this.log.info(entry, `api ${call.method} ${call.path} → ${call.status}`);
  }
}
