/** One in-process gateway per region of a parsed config (worker 0, a free port, silent logs). */
import { startGateway } from '../../src/app.ts';
import type { ChatConfig } from '../../src/config/schema.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { silentLogger } from '../../src/util/log.ts';

/**
 * Starts the regions' gateways one after another (each region's JetStream streams are created by
 * its first gateway) and returns them by region. `dataDir` names each one's data folder.
 */
export async function startRegionGateways<R extends string>(
  config: ChatConfig,
  regions: readonly R[],
  dataDir: (region: R) => string | Promise<string>,
): Promise<Map<R, Gateway>> {
  const gateways = new Map<R, Gateway>();
  for (const name of regions) {
    const region = config.regions.find((r) => r.name === name);
    if (!region) throw new Error(`no region ${name} in the config`);
    gateways.set(
      name,
      await startGateway({
        config,
        region,
        workerId: 0,
        port: 0,
        dataDir: await dataDir(name),
        log: silentLogger,
      }),
    );
  }
  return gateways;
}
