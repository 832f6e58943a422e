/** Messages between the benchmark coordinator (bench/lib/loadgen.ts) and its worker processes. */
import type { HistogramJson } from '../lib/histogram.ts';
import type { WireKind } from './wire.ts';

/** A conversation the load flows through; all its members are connected by one worker. */
export interface Unit {
  kind: 'dm' | 'group';
  /** Set for direct conversations; groups get theirs from `createGroup` in `prepare`. */
  conversationId: string | null;
  members: string[];
}

export interface WorkerInit {
  workerIndex: number;
  wire: WireKind;
  host: string;
  port: number;
  /** `/ws` (raw), `/socket.io/` (Socket.IO). */
  path: string;
  /** How users authenticate: a JWT minted with this HS256 secret, or `?user=` (bare uWS). */
  auth: { kind: 'jwt'; secret: string } | { kind: 'query' };
  /** Socket.IO only: the namespace connect ack is "ready" (true) or a `synced` event is (false). */
  readyOnConnect: boolean;
  localAddresses: string[];
  /** Users whose id starts with `userPrefix` connect to `port` instead (a second region's gateway). */
  altEndpoint?: { port: number; userPrefix: string };
  users: string[];
  connectConcurrency: number;
  units: Unit[];
  bodyChars: number;
  /** Send a clientMsgId with every message (what the SDK does; costs a dedup write). */
  clientMsgIds: boolean;
  /** Measure the server's responsiveness with a `ping` every 20 ms during runs (gateway targets). */
  probe: boolean;
  /** The worker exits by itself after this long, whatever happens to its coordinator. */
  maxLifetimeMs: number;
}

export interface RunSpec {
  /** Messages per second this worker offers (open loop). */
  rate: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  /** Epoch ms at which every worker starts sending, so their windows line up. */
  startAt: number;
}

export interface ConnectResult {
  connected: number;
  failed: number;
  /** Connection attempts that failed and were retried. */
  retried: number;
  firstError: string | null;
  durationMs: number;
}

export interface RunResult {
  sent: number;
  /** Sends not attempted because the sender's connection had closed. */
  unsendable: number;
  acked: number;
  /** Acks and deliveries received inside the measurement window (throughput). */
  ackedInWindow: number;
  deliveredInWindow: number;
  /** Messages scheduled inside the window (their latencies are recorded). */
  measured: number;
  measuredAcked: number;
  measuredExpectedDeliveries: number;
  measuredDelivered: number;
  errorFrames: Record<string, number>;
  connectionsClosed: number;
  windowMs: number;
  ack: HistogramJson;
  delivery: HistogramJson;
  /** How late the generator sent relative to schedule: high values mean it was starved of CPU. */
  lag: HistogramJson;
  /** Round trips of `ping` requests sent every 20 ms during the window (empty unless probing). */
  probe: HistogramJson;
}

export type Command =
  | { cmd: 'init'; init: WorkerInit }
  | { cmd: 'connect' }
  | { cmd: 'prepare' }
  | { cmd: 'run'; run: RunSpec }
  | { cmd: 'close' };

export type Reply =
  | { cmd: 'init'; ok: true }
  | { cmd: 'connect'; ok: true; result: ConnectResult }
  | { cmd: 'prepare'; ok: true; conversations: number }
  | { cmd: 'run'; ok: true; result: RunResult }
  | { cmd: 'close'; ok: true }
  | { cmd: Command['cmd']; ok: false; error: string };
