/**
 * Mounts the server API on a gateway: the routes of every module in `ROUTE_MODULES`, with the
 * deployment's API keys and the gateway's revocation list, on the gateway's HTTP app (`transport/`) under `/api`.
 */

import type { Gateway } from '../gateway/gateway.ts';
import type { HttpApp } from '../gateway/transport/types.ts';
import type { Logger } from '../util/log.ts';
import { componentLogger } from '../util/log.ts';
import { ApiAudit } from './audit.ts';
import { ApiAuth } from './auth.ts';
import { ApiHandler } from './handler.ts';
import { ApiRateLimit } from './rate-limit.ts';
import { ROUTE_MODULES } from './routes/index.ts';
import { registerApiOnUws } from './uws.ts';

/** The API's version, as the OpenAPI document states it; `/v1` paths stay compatible within it. */
export const API_VERSION = '1.0.0';

export function createApiHandler(gw: Gateway, log: Logger): ApiHandler {
  const { api, auth } = gw.deps.config;
  return new ApiHandler({
    routes: ROUTE_MODULES.flatMap((module) => module(gw)),
    auth: new ApiAuth(api, auth, (id) => gw.sessionEnds.list.isRevoked(id)),
    maxBodyBytes: api.maxBodyBytes,
    version: API_VERSION,
    log,
    rateLimit: new ApiRateLimit(api.rateLimitPerSec, api.rateLimitBurst),
    audit: new ApiAudit(gw.metrics.registry, componentLogger(log, 'api-audit')),
  });
}

export function mountApi(app: HttpApp, gw: Gateway, log: Logger): ApiHandler {
  const handler = createApiHandler(gw, log);
  registerApiOnUws(app, handler);
  return handler;
}
