/**
 * Sizes of a run. `quick` (npm run bench) must finish in a few minutes with every scenario and
 * baseline; `full` (npm run bench:full) uses more connections, longer steps and higher rates.
 *
 * Rates are offered messages per second (open loop). Each (scenario, target) climbs its ladder
 * and stops after the first step it cannot sustain, so every target is driven into overload
 * once (its achieved msgs/s there is its capacity) without spending minutes far beyond it.
 */
import type { TargetName } from './targets.ts';

export interface StepTiming {
  warmupMs: number;
  measureMs: number;
  /** After the window: how long to wait for outstanding acks and deliveries. */
  drainMs: number;
}

export interface ModeConfig {
  name: 'quick' | 'full';
  /** Load-generator processes. */
  workers: number;
  bodyChars: number;
  step: StepTiming;
  /** Cassandra alone before the gateways (bench/scenarios/storage-probe.ts): seconds per phase. */
  storageProbe: { seconds: number; concurrency: number };
  idle: { connections: number; connectConcurrency: number; settleMs: number };
  dm: { pairs: number; ladder: Record<TargetName, number[]> };
  room: { groups: number; members: number; ladder: Record<TargetName, number[]> };
  xregion: { pairs: number; ladder: number[] };
}

const quick: ModeConfig = {
  name: 'quick',
  workers: 2,
  bodyChars: 100,
  step: { warmupMs: 1000, measureMs: 3000, drainMs: 4000 },
  storageProbe: { seconds: 6, concurrency: 128 },
  idle: { connections: 10_000, connectConcurrency: 200, settleMs: 2000 },
  dm: {
    pairs: 200,
    ladder: {
      gateway: [250, 500, 1000, 2000, 4000, 8000],
      'gateway-socketio': [250, 500, 1000, 2000, 4000, 8000],
      // From 250/s like the gateway, so both have steps at the same offered rates: CPU per
      // message is compared at one rate (bench/report/targets.ts), fixed costs amortise with it.
      'baseline-socketio': [250, 500, 1000, 2000, 4000, 8000, 16_000],
      'bare-uws': [4000, 8000, 16_000, 32_000, 64_000, 128_000],
    },
  },
  room: {
    groups: 10,
    members: 100,
    ladder: {
      gateway: [50, 100, 200, 400, 800, 1600, 3200],
      'gateway-socketio': [50, 100, 200, 400, 800, 1600, 3200],
      'baseline-socketio': [100, 200, 400, 800, 1600, 3200],
      'bare-uws': [400, 800, 1600, 3200, 6400, 12_800],
    },
  },
  // Up to 6,400/s: with batched cross-region apply the 1,600/s step was sustained, so the
  // ladder ended before the capacity was found.
  xregion: { pairs: 100, ladder: [50, 100, 200, 400, 800, 1600, 3200, 6400] },
};

const full: ModeConfig = {
  name: 'full',
  workers: 2,
  bodyChars: 100,
  step: { warmupMs: 5000, measureMs: 15_000, drainMs: 15_000 },
  storageProbe: { seconds: 30, concurrency: 128 },
  idle: { connections: 100_000, connectConcurrency: 400, settleMs: 5000 },
  dm: {
    pairs: 2000,
    ladder: {
      gateway: [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12_000, 16_000],
      'gateway-socketio': [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12_000, 16_000],
      'baseline-socketio': [250, 500, 1000, 2000, 4000, 6000, 8000, 12_000, 16_000, 24_000],
      'bare-uws': [4000, 8000, 16_000, 32_000, 48_000, 64_000, 96_000],
    },
  },
  room: {
    groups: 50,
    members: 100,
    ladder: {
      gateway: [50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800],
      'gateway-socketio': [50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800],
      'baseline-socketio': [100, 200, 400, 800, 1200, 1600, 2400, 3200],
      'bare-uws': [400, 800, 1600, 2400, 3200, 4800, 6400, 9600],
    },
  },
  xregion: { pairs: 500, ladder: [50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800, 6400] },
};

export const MODES = { quick, full } as const;
