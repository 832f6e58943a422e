/**
 * The faults, one per scenario. Each is bounded: `inject` breaks one thing, and after `downMs`
 * `heal` repairs it on the same port, so clients can find it again where they left it.
 */

import type { Region, Topology } from './topology.ts';
import type { Device, Fleet } from './traffic.ts';

export interface FaultContext {
  topology: Topology;
  fleet: Fleet;
  /** The region a regional fault hits. */
  region: Region;
  /** The starved device (slow-consumer). */
  slowDevice: Device;
}

export interface Scenario {
  name: string;
  description: string;
  /** How long the fault lasts, in the full run and with --quick. */
  downMs: { full: number; quick: number };
  /**
   * Who the fault hits, for the recovery times: the devices connected to the faulted region
   * when it starts, every device (a store they all share), or the one starved device.
   */
  scope: 'region' | 'all' | 'device';
  inject(ctx: FaultContext): Promise<void>;
  heal(ctx: FaultContext): Promise<void>;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'gateway-kill',
    description: "SIGKILL a region's gateway; start it again on its port after the outage",
    downMs: { full: 10_000, quick: 5_000 },
    scope: 'region',
    inject: (c) => c.topology.killGateway(c.region),
    heal: (c) => c.topology.startGateway(c.region),
  },
  {
    name: 'redis-restart',
    description: "SIGKILL a region's Redis (presence, claims); start an empty one on its port",
    downMs: { full: 3_000, quick: 3_000 },
    scope: 'region',
    inject: (c) => c.topology.killRedis(c.region),
    heal: (c) => c.topology.startRedis(c.region),
  },
  {
    name: 'cassandra-stop',
    description: 'stop the Cassandra node every region stores in; start it again on the same data',
    downMs: { full: 15_000, quick: 10_000 },
    scope: 'all',
    inject: (c) => c.topology.stopCassandra(),
    heal: (c) => c.topology.startCassandra(),
  },
  {
    name: 'nats-down',
    description: "stop a region's NATS server (JetStream store kept); start it again",
    downMs: { full: 30_000, quick: 10_000 },
    scope: 'region',
    inject: (c) => c.topology.stopNats(c.region),
    heal: (c) => c.topology.startNats(c.region),
  },
  {
    name: 'gateway-freeze',
    description: "SIGSTOP a region's gateway (sockets stay open, nothing answers); SIGCONT",
    downMs: { full: 10_000, quick: 5_000 },
    scope: 'region',
    inject: async (c) => c.topology.signalGateway(c.region, 'SIGSTOP'),
    heal: async (c) => c.topology.signalGateway(c.region, 'SIGCONT'),
  },
  {
    name: 'slow-consumer',
    description: "one device's socket stops reading (TCP paused, the kernel buffers fill); it reads again",
    // Long enough, even quick, that a client ping times out within it (5 s idle + 4 s by default).
    downMs: { full: 40_000, quick: 35_000 },
    scope: 'device',
    // Only the socket open now: a reconnect the SDK makes meanwhile reads normally, as a new app would.
    inject: async (c) => {
      for (const ws of c.slowDevice.sockets) ws.pause();
    },
    heal: async (c) => {
      for (const ws of c.slowDevice.sockets) ws.resume();
    },
  },
];
