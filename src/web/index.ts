/**
 * Attaches the browser-facing parts to a gateway: the web chat app and dashboard pages, and the
 * dashboard's authenticated WebSocket with its sampler, whose samples this gateway also publishes
 * to the others (the deployment view, `dashboard/fleet/`).
 */
import { DashboardEndpoint } from '../dashboard/endpoint.ts';
import { createStatsBus, Fleet } from '../dashboard/fleet/index.ts';
import { DashboardSampler } from '../dashboard/sampler.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { componentLogger } from '../util/log.ts';
import { registerWebRoutes } from './routes.ts';

export { warmWebAssets } from './assets.ts';

export interface AttachedWeb {
  endpoint: DashboardEndpoint;
  fleet: Fleet;
  /**
   * Starts sampling and publishing; called once the gateway has started, so a gateway that fails
   * to start leaves no stats connection behind.
   */
  start(): Promise<void>;
}

export function attachWeb(gateway: Gateway): AttachedWeb {
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
  const fleetLog = componentLogger(gateway.deps.log, 'fleet');
  const fleet = new Fleet({
    region: region.name,
    gatewayId: gateway.gatewayId,
    transport: gateway.transport.name,
    regions: config.regions.map((r) => r.name),
    bus: createStatsBus({ nats: region.nats, gatewayId: gateway.gatewayId, log: fleetLog }),
    goneAfterMs: config.dashboard.fleetGoneMs,
    log: fleetLog,
  });
  const endpoint = new DashboardEndpoint(gateway.httpApp, {
    sampler,
    fleet,
    config: config.dashboard,
    operatorToken: config.auth.operatorToken,
    region: region.name,
    gatewayId: gateway.gatewayId,
    multiRegion: replication !== undefined,
  });
  let started = false;
  gateway.onStop(() => {
    sampler.stop();
    endpoint.close();
    if (started) {
      // The last word (`stopping`) goes out before the bus drains; bounded by the drain's grace.
      fleet.close().catch((err: unknown) => fleetLog.warn({ err }, 'closing the stats bus failed'));
    }
  });
  return {
    endpoint,
    fleet,
    async start() {
      if (started) return;
      started = true;
      await fleet.start();
      sampler.start((sample) => {
        fleet.publish(sample);
        endpoint.broadcast(sample);
      });
    },
  };
}
