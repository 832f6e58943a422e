/**
 * HTTP endpoints on the gateway's HTTP app (`transport/`): health, readiness, metrics, dev tokens. `/healthz` and
 * `/readyz` are open (load balancers probe them); `/metrics` is for operators: it answers only
 * `Authorization: Bearer <auth.operatorToken>` (401 otherwise; 404 with no operator token
 * configured), as the dashboard does (docs/operations.md, "Metrics").
 */

import { tokenMatches } from '../dashboard/endpoint.ts';
import { ErrorCode, isUserId } from '../protocol/index.ts';
import type { ReadinessReport } from './health.ts';
import type { HttpApp, HttpRequest, HttpResponse } from './transport/types.ts';

interface HttpHost {
  readonly gatewayId: string;
  readonly transport: { readonly name: string };
  readonly deps: {
    region: { name: string };
    config: {
      auth: {
        devTokens: boolean;
        devTokenTtlSec: number;
        secret?: string | undefined;
        operatorToken?: string | undefined;
      };
    };
  };
  /** The background probes' latest verdict (`health.ts`); `/readyz` never waits on a service. */
  readonly health: { report(): ReadinessReport };
  readonly metrics: { served: { contentType: string; metrics(): Promise<string> } };
  readonly auth: { mint(userId: string, ttlSec: number): Promise<string> };
}

/** Runs an async handler with uWS's abort contract: never touch `res` after it was aborted. */
function asyncRoute(
  handler: (req: { query: (k: string) => string }) => Promise<{ status: string; type: string; body: string }>,
) {
  return (res: HttpResponse, req: HttpRequest) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const values = new Map<string, string>();
    for (const key of ['user']) values.set(key, req.getQuery(key) ?? '');
    handler({ query: (k) => values.get(k) ?? '' }).then(
      (r) => {
        if (aborted) return;
        res.cork(() => {
          res
            .writeStatus(r.status)
            .writeHeader('content-type', r.type)
            .writeHeader('cache-control', 'no-store')
            .end(r.body);
        });
      },
      (err: unknown) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('500 Internal Server Error').end(JSON.stringify({ error: String(err) }));
        });
      },
    );
  };
}

const json = (status: string, body: unknown) => ({
  status,
  type: 'application/json',
  body: JSON.stringify(body),
});

export function registerHttpRoutes(app: HttpApp, gw: HttpHost): void {
  app.get('/healthz', (res) => {
    res
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify({ status: 'ok', gatewayId: gw.gatewayId, transport: gw.transport.name }));
  });

  app.get(
    '/readyz',
    asyncRoute(async () => {
      const { status, checks } = gw.health.report();
      return json(status === 'not_ready' ? '503 Service Unavailable' : '200 OK', {
        status,
        region: gw.deps.region.name,
        gatewayId: gw.gatewayId,
        checks,
      });
    }),
  );

  const serveMetrics = asyncRoute(async () => ({
    status: '200 OK',
    type: gw.metrics.served.contentType,
    body: await gw.metrics.served.metrics(),
  }));
  app.get('/metrics', (res, req) => {
    const operatorToken = gw.deps.config.auth.operatorToken;
    const auth = req.getHeader('authorization');
    if (operatorToken && tokenMatches(auth.startsWith('Bearer ') ? auth.slice(7) : '', operatorToken)) {
      serveMetrics(res, req);
      return;
    }
    const refused = operatorToken
      ? json('401 Unauthorized', {
          error: {
            code: ErrorCode.Unauthorized,
            message: 'metrics: send Authorization: Bearer <operator token>',
          },
        })
      : json('404 Not Found', {
          error: { code: ErrorCode.NotFound, message: 'metrics disabled: no auth.operatorToken configured' },
        });
    res
      .writeStatus(refused.status)
      .writeHeader('content-type', refused.type)
      .writeHeader('cache-control', 'no-store')
      .end(refused.body);
  });

  app.get(
    '/dev/token',
    asyncRoute(async (req) => {
      const auth = gw.deps.config.auth;
      if (!auth.devTokens || !auth.secret) return json('404 Not Found', { error: { code: 'not_found' } });
      const user = req.query('user');
      if (!isUserId(user)) {
        return json('400 Bad Request', {
          error: { code: 'invalid_field', message: 'user: [A-Za-z0-9_-]{1,64}' },
        });
      }
      const token = await gw.auth.mint(user, auth.devTokenTtlSec);
      return json('200 OK', { userId: user, token, expiresIn: auth.devTokenTtlSec });
    }),
  );
}
