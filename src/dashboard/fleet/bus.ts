/**
 * How gateways hear each other's figures. One interface, two implementations: `NatsStatsBus`
 * (every gateway of every region, over the NATS supercluster) and `MemoryStatsBus` (the gateways
 * of one process: embedded mode, where the view is the gateway itself). Core-NATS semantics:
 * at most once, no history; a lost message is replaced by the next second's.
 */
import type { GatewayStats } from '../types.ts';

export type StatsListener = (stats: GatewayStats) => void;

export interface StatsBus {
  readonly kind: 'nats' | 'memory';
  /** Starts listening; `onStats` gets every gateway's stats, this gateway's own included. */
  start(onStats: StatsListener, onMalformed: (subject: string, err: unknown) => void): Promise<void>;
  /** Sends this gateway's figures (dropped, not queued without end, while the bus is down). */
  publish(stats: GatewayStats): void;
  /** Why publishing or hearing does not work right now, else null. */
  error(): string | null;
  close(): Promise<void>;
}

/** The subject a gateway's stats go out on: `stats.<region>.<gatewayId>`. */
export function statsSubject(region: string, gatewayId: string): string {
  return `stats.${region}.${gatewayId}`;
}

/** Every gateway's stats. */
export const ALL_STATS = 'stats.>';
