export { ALL_STATS, type StatsBus, type StatsListener, statsSubject } from './bus.ts';
export { Fleet, type FleetOptions, MAX_GATEWAYS, statsOf } from './fleet.ts';
export { GatewayHistory, HISTORY_SEC, mergePoints, pointOf, RECENT_SEC } from './history.ts';
export { MemoryStatsBus, MemoryStatsHub } from './memory-bus.ts';
export { NatsStatsBus, type NatsStatsBusOptions } from './nats-bus.ts';
export { decodeStats, encodeStats } from './wire.ts';

import type { NatsTarget } from '../../services/nats.ts';
import type { Logger } from '../../util/log.ts';
import type { StatsBus } from './bus.ts';
import { MemoryStatsBus } from './memory-bus.ts';
import { NatsStatsBus } from './nats-bus.ts';

/** NATS when the region has it (every gateway of every region), else this process only (embedded mode). */
export function createStatsBus(opts: {
  nats: NatsTarget | undefined;
  gatewayId: string;
  log: Logger;
}): StatsBus {
  return opts.nats
    ? new NatsStatsBus({ ...opts.nats, gatewayId: opts.gatewayId, log: opts.log })
    : new MemoryStatsBus();
}
