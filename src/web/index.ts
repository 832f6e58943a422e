/**
 * Attaches the browser-facing parts to a gateway: the web chat app and dashboard pages, and the
 * dashboard's authenticated WebSocket with its sampler.
 */
import { DashboardEndpoint } from '../dashboard/endpoint.ts';
import { DashboardSampler } from '../dashboard/sampler.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { componentLogger } from '../util/log.ts';
import { registerWebRoutes } from './routes.ts';

export { warmWebAssets } from './assets.ts';

export function attachWeb(gateway: Gateway): DashboardEndpoint {
  const { config, region, replication } = gateway.deps;
  const others = config.regions.filter((r) => r.name !== region.name);
  registerWebRoutes(gateway.httpApp, () => ({
    region: region.name,
    gatewayId: gateway.gatewayId,
    devTokens: config.auth.devTokens && config.auth.secret !== undefined,
    failoverUrls: [...region.gateway.publicUrls, ...others.flatMap((r) => r.gateway.publicUrls)],
  }));
  const sampler = new DashboardSampler({
    metrics: gateway.metrics,
    webhooks: gateway.deps.webhooks?.metrics ?? null,
    config: config.dashboard,
    ...(replication ? { backlog: (timeoutMs: number) => replication.backlog(timeoutMs) } : {}),
    log: componentLogger(gateway.deps.log, 'dashboard'),
  });
  const endpoint = new DashboardEndpoint(gateway.httpApp, {
    sampler,
    config: config.dashboard,
    operatorToken: config.auth.operatorToken,
    region: region.name,
    gatewayId: gateway.gatewayId,
    multiRegion: replication !== undefined,
  });
  gateway.onStop(() => endpoint.close());
  return endpoint;
}
