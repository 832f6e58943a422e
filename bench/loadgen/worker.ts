/**
 * One load-generator process. The coordinator (bench/lib/loadgen.ts) forks several; each holds
 * its share of the connections and conversations (every member of a conversation lives in the
 * same worker, so a delivery's latency is measured against the same clock that stamped it).
 *
 * Sending is open loop: message k of a run is due at t0 + k / rate whatever happened to earlier
 * ones, its body carries that *scheduled* time, and latency is measured from it. A slow server
 * therefore shows up as latency (and as lost messages), never as a lower offered rate; if the
 * generator itself falls behind, its lag histogram says so.
 */
import { mintToken } from '../../src/gateway/auth.ts';
import { Histogram } from '../lib/histogram.ts';
import type { Command, ConnectResult, Reply, RunResult, RunSpec, Unit, WorkerInit } from './types.ts';
import {
  classifyRaw,
  classifySocketIo,
  type Encoder,
  type Incoming,
  rawEncoder,
  socketIoEncoder,
} from './wire.ts';
import { WsClient } from './ws-client.ts';

/** Request ids at or above this are setup calls; below it they are the run's message sequence. */
const SETUP_BASE = 1 << 30;
/** Probe ping ids start here (above the setup ids). */
const PROBE_BASE = 2 ** 31;
/** Sequence number in the body of setup messages: outside every run's range. */
const SETUP_SEQ = 999_999_999;

interface Conn {
  userId: string;
  client: WsClient | null;
  ready: boolean;
  onReady: (() => void) | null;
}

const nowUs = (): number => Math.round(performance.now() * 1000);

class Worker {
  private readonly conns = new Map<string, Conn>();
  private readonly encoder: Encoder;
  private readonly setupWaiters = new Map<number, (r: Incoming) => void>();
  private nextSetupId = SETUP_BASE;
  private readonly conversationIds: (string | null)[];
  private run: RunState | null = null;
  /** Global message sequence: never reused, so late frames of an earlier run are recognised. */
  private seqBase = 0;
  private closedDuringRun = 0;
  /** Filler after the body's `T<time>.<seq>.` header, so bodies are about `bodyChars` long. */
  private readonly pad: string;

  constructor(private readonly init: WorkerInit) {
    this.pad = 'x'.repeat(Math.max(0, init.bodyChars - 24));
    this.encoder = init.wire === 'raw' ? rawEncoder : socketIoEncoder;
    this.conversationIds = init.units.map((u) => u.conversationId);
  }

  /**
   * Opens every connection, `connectConcurrency` at a time. A failed connection is retried twice
   * (what any client does); retries are counted and the first error kept for the report.
   */
  async connect(): Promise<ConnectResult> {
    const started = performance.now();
    let connected = 0;
    let failed = 0;
    let retried = 0;
    let firstError: string | null = null;
    const users = this.init.users;
    let next = 0;
    const lane = async () => {
      for (;;) {
        const i = next++;
        const userId = users[i];
        if (userId === undefined) return;
        for (let attempt = 0; ; attempt++) {
          try {
            await this.open(userId, i + attempt);
            connected++;
            break;
          } catch (err) {
            firstError ??= (err as Error).message;
            this.conns.get(userId)?.client?.destroy();
            this.conns.delete(userId);
            if (attempt === 2) {
              failed++;
              break;
            }
            retried++;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: this.init.connectConcurrency }, lane));
    return { connected, failed, retried, firstError, durationMs: performance.now() - started };
  }

  private async open(userId: string, i: number): Promise<void> {
    const { init } = this;
    let path: string;
    let token = '';
    if (init.auth.kind === 'jwt') {
      token = await mintToken(init.auth.secret, userId, 24 * 3600);
    }
    if (init.wire === 'raw') {
      path =
        init.auth.kind === 'jwt'
          ? `${init.path}?token=${token}&device=bench`
          : `${init.path}?user=${encodeURIComponent(userId)}`;
    } else {
      path = `${init.path}?EIO=4&transport=websocket`;
    }
    const localAddress = init.localAddresses[i % init.localAddresses.length];
    const alt = init.altEndpoint && userId.startsWith(init.altEndpoint.userPrefix) ? init.altEndpoint : null;
    const conn: Conn = { userId, client: null, ready: false, onReady: null };
    let readyFailed: (err: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      readyFailed = reject;
      conn.onReady = resolve;
    });
    // It may fail before anyone awaits it (a close during the upgrade).
    ready.catch(() => {});
    let frames = 0;
    let client: WsClient | null = null;
    client = await WsClient.connect(
      {
        host: init.host,
        port: alt ? alt.port : init.port,
        path,
        ...(localAddress ? { localAddress } : {}),
        ...(init.wire === 'raw' && init.auth.kind === 'jwt' ? { protocol: 'chat.v1' } : {}),
        timeoutMs: 60_000,
      },
      {
        // Frames can arrive with the 101 itself, before `conn.client` is set: hence `c`.
        onText: (buf, start, end, c) => {
          frames++;
          this.onFrame(conn, buf, start, end, token, c);
        },
        onClose: (code) => {
          if (!conn.ready) {
            const why = code ?? `no close frame${client?.lastError ? `, ${client.lastError}` : ''}`;
            // BENCH_TRACE=1 keeps the bytes received before the close, to see what the server said.
            const trace = client?.trace
              ? ` received: ${JSON.stringify(Buffer.concat(client.trace).toString('latin1'))}`
              : '';
            readyFailed(
              new Error(
                `${userId}: closed (${why}) after ${frames} frames, before ready (from ${client?.local})${trace}`,
              ),
            );
          }
          this.lost(conn);
        },
      },
    );
    if (!client.closed) conn.client = client;
    this.conns.set(userId, conn);
    const timer = setTimeout(() => readyFailed(new Error(`${userId}: not ready within 60 s`)), 60_000);
    try {
      await ready;
    } finally {
      clearTimeout(timer);
    }
  }

  private lost(conn: Conn): void {
    if (conn.client === null) return;
    conn.client = null;
    if (this.run) this.closedDuringRun++;
  }

  private onFrame(
    conn: Conn,
    buf: Buffer,
    start: number,
    end: number,
    token: string,
    client: WsClient,
  ): void {
    const f =
      this.init.wire === 'raw'
        ? classifyRaw(buf, start, end)
        : classifySocketIo(buf, start, end, this.init.readyOnConnect);
    switch (f.kind) {
      case 'delivery':
        this.run?.delivered(f.seq, f.t);
        return;
      case 'ack':
        if (f.reqId >= SETUP_BASE) this.settle(f.reqId, f);
        else this.run?.acked(f.reqId);
        return;
      case 'error':
        if (f.reqId >= SETUP_BASE) this.settle(f.reqId, f);
        else this.run?.error(f.code);
        return;
      case 'reply':
        this.settle(f.reqId, f);
        return;
      case 'pong':
        this.run?.pong(f.reqId);
        return;
      case 'ready':
        if (!conn.ready) {
          conn.ready = true;
          conn.onReady?.();
          conn.onReady = null;
        }
        return;
      case 'ping':
        client.sendText(this.encoder.pong());
        return;
      case 'handshake':
        client.sendText(this.encoder.connect(token));
        return;
      case 'other':
        return;
    }
  }

  private settle(reqId: number, f: Incoming): void {
    const w = this.setupWaiters.get(reqId);
    if (!w) return;
    this.setupWaiters.delete(reqId);
    w(f);
  }

  private call(conn: Conn, frame: (reqId: number) => string): Promise<Incoming> {
    const reqId = this.nextSetupId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.setupWaiters.delete(reqId);
        reject(new Error(`setup request from ${conn.userId} timed out`));
      }, 60_000);
      this.setupWaiters.set(reqId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      if (!conn.client) reject(new Error(`${conn.userId}: connection closed`));
      else conn.client.sendText(frame(reqId));
    });
  }

  /** Creates the groups and sends one message through every conversation (creates DMs, warms caches). */
  async prepare(): Promise<number> {
    const { units } = this.init;
    const lanes = 32;
    let next = 0;
    const lane = async () => {
      for (;;) {
        const i = next++;
        const unit = units[i];
        if (!unit) return;
        const owner = this.conns.get(unit.members[0]!);
        if (!owner) throw new Error(`${unit.members[0]} is not connected`);
        if (unit.kind === 'group' && this.conversationIds[i] === null) {
          const r = await this.call(owner, (id) => this.encoder.createGroup(id, `bench-${i}`, unit.members));
          const id = r.kind === 'reply' && r.data && 'conversation' in r.data ? r.data.conversation.id : null;
          if (typeof id !== 'string') throw new Error(`createGroup failed: ${JSON.stringify(r)}`);
          this.conversationIds[i] = id;
        }
        const conversationId = this.conversationIds[i]!;
        const body = `T${nowUs()}.${SETUP_SEQ}.warm`;
        const r = await this.call(owner, (id) =>
          this.encoder.send(
            id,
            conversationId,
            body,
            this.init.clientMsgIds ? `warm-${id}-${Date.now()}` : null,
          ),
        );
        if (r.kind !== 'ack')
          throw new Error(`warm-up send to ${conversationId} failed: ${JSON.stringify(r)}`);
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    return units.length;
  }

  async runLoad(spec: RunSpec): Promise<RunResult> {
    const { units } = this.init;
    const total = Math.max(1, Math.round((spec.rate * (spec.warmupMs + spec.measureMs)) / 1000));
    const warmN = Math.round((spec.rate * spec.warmupMs) / 1000);
    const t0 = nowUs() + (spec.startAt - Date.now()) * 1000;
    const intervalUs = 1e6 / spec.rate;
    const run = new RunState(this.seqBase, total, warmN, t0, intervalUs, units);
    run.windowStartUs = t0 + spec.warmupMs * 1000;
    run.windowEndUs = t0 + (spec.warmupMs + spec.measureMs) * 1000;
    this.seqBase += total;
    this.run = run;
    this.closedDuringRun = 0;
    const U = units.length;
    const prober = this.startProbe(run);
    const runTag = `${this.init.workerIndex}-${Date.now().toString(36)}`;

    await new Promise<void>((resolve) => {
      let k = 0;
      const tick = () => {
        const now = nowUs();
        const due = Math.min(total, Math.floor((now - t0) / intervalUs) + 1);
        while (k < due) {
          const seq = run.base + k;
          const unitIndex = k % U;
          const unit = units[unitIndex]!;
          const sender = this.conns.get(unit.members[Math.floor(k / U) % unit.members.length]!);
          const sched = t0 + k * intervalUs;
          const client = sender?.client;
          if (!client) run.skip(unitIndex);
          else {
            const body = `T${Math.round(sched)}.${seq}.${this.pad}`;
            client.sendText(
              this.encoder.send(
                seq,
                this.conversationIds[unitIndex]!,
                body,
                this.init.clientMsgIds ? `${runTag}-${k}` : null,
              ),
            );
            run.sent++;
          }
          if (k >= warmN) run.lag.record(now - sched);
          k++;
        }
        if (k >= total) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(tick, 1);
    });

    clearInterval(prober);
    const deadline = Date.now() + spec.drainMs;
    while (Date.now() < deadline && !run.complete()) await new Promise((r) => setTimeout(r, 20));
    this.run = null;
    return run.result(this.closedDuringRun);
  }

  /**
   * Worker 0 pings the server every 20 ms on one connection while sending: the round trip of a
   * request that touches no storage shows whether the server's event loop itself is slow.
   */
  private startProbe(run: RunState): NodeJS.Timeout | undefined {
    if (!this.init.probe || this.init.workerIndex !== 0) return undefined;
    const conn = this.conns.get(this.init.units[0]?.members[0] ?? '');
    if (!conn) return undefined;
    let id = PROBE_BASE;
    return setInterval(() => {
      const reqId = id++;
      run.pingSent(reqId);
      conn.client?.sendText(this.encoder.ping(reqId));
    }, 20);
  }

  async close(): Promise<void> {
    for (const c of this.conns.values()) c.client?.close();
    await new Promise((r) => setTimeout(r, 200));
    for (const c of this.conns.values()) c.client?.destroy();
  }
}

/** Counters and histograms of one run. Arrays are indexed by sequence − base. */
class RunState {
  sent = 0;
  unsendable = 0;
  ackCount = 0;
  ackedInWindow = 0;
  deliveredInWindow = 0;
  windowStartUs = 0;
  windowEndUs = 0;
  readonly errorFrames: Record<string, number> = {};
  readonly ack = new Histogram();
  readonly delivery = new Histogram();
  readonly lag = new Histogram();
  readonly probe = new Histogram();
  private readonly pings = new Map<number, number>();
  private readonly ackedFlags: Uint8Array;
  private readonly deliveredCounts: Uint16Array;
  private readonly fanout: Uint16Array;
  private expectedOutstanding = 0;

  constructor(
    readonly base: number,
    readonly total: number,
    readonly warmN: number,
    readonly t0: number,
    readonly intervalUs: number,
    units: Unit[],
  ) {
    this.ackedFlags = new Uint8Array(total);
    this.deliveredCounts = new Uint16Array(total);
    this.fanout = new Uint16Array(units.length);
    units.forEach((u, i) => {
      this.fanout[i] = u.members.length - 1;
    });
    for (let k = 0; k < total; k++) this.expectedOutstanding += this.fanout[k % units.length]!;
  }

  private inWindow(now: number): boolean {
    return now >= this.windowStartUs && now < this.windowEndUs;
  }

  acked(seq: number): void {
    const k = seq - this.base;
    if (k < 0 || k >= this.total || this.ackedFlags[k]) return;
    this.ackedFlags[k] = 1;
    this.ackCount++;
    const now = nowUs();
    if (this.inWindow(now)) this.ackedInWindow++;
    if (k >= this.warmN) this.ack.record(now - (this.t0 + k * this.intervalUs));
  }

  delivered(seq: number, t: number): void {
    const k = seq - this.base;
    if (k < 0 || k >= this.total) return;
    this.deliveredCounts[k]!++;
    this.expectedOutstanding--;
    const now = nowUs();
    if (this.inWindow(now)) this.deliveredInWindow++;
    if (k >= this.warmN) this.delivery.record(now - t);
  }

  pingSent(reqId: number): void {
    this.pings.set(reqId, nowUs());
  }

  pong(reqId: number): void {
    const sent = this.pings.get(reqId);
    if (sent === undefined) return;
    this.pings.delete(reqId);
    if (sent >= this.windowStartUs && sent < this.windowEndUs) this.probe.record(nowUs() - sent);
  }

  /** A message whose sender had lost its connection: nobody will receive it. */
  skip(unitIndex: number): void {
    this.unsendable++;
    this.expectedOutstanding -= this.fanout[unitIndex]!;
  }

  error(code: string): void {
    this.errorFrames[code] = (this.errorFrames[code] ?? 0) + 1;
  }

  /** Every sent message acked and every expected delivery in (or given up). */
  complete(): boolean {
    return this.ackCount >= this.sent && this.expectedOutstanding <= 0;
  }

  result(connectionsClosed: number): RunResult {
    let measuredAcked = 0;
    let measuredDelivered = 0;
    let measuredExpected = 0;
    const U = this.fanout.length;
    for (let k = this.warmN; k < this.total; k++) {
      measuredAcked += this.ackedFlags[k]!;
      measuredDelivered += this.deliveredCounts[k]!;
      measuredExpected += this.fanout[k % U]!;
    }
    return {
      sent: this.sent,
      unsendable: this.unsendable,
      acked: this.ackCount,
      ackedInWindow: this.ackedInWindow,
      deliveredInWindow: this.deliveredInWindow,
      measured: this.total - this.warmN,
      measuredAcked,
      measuredExpectedDeliveries: measuredExpected,
      measuredDelivered,
      errorFrames: this.errorFrames,
      connectionsClosed,
      windowMs: (this.windowEndUs - this.windowStartUs) / 1000,
      ack: this.ack.toJSON(),
      delivery: this.delivery.toJSON(),
      lag: this.lag.toJSON(),
      probe: this.probe.toJSON(),
    };
  }
}

// ---- process plumbing ------------------------------------------------------------------------

let worker: Worker | null = null;

function reply(r: Reply): void {
  process.send?.(r);
}

async function handle(c: Command): Promise<void> {
  try {
    switch (c.cmd) {
      case 'init': {
        worker = new Worker(c.init);
        setTimeout(() => {
          console.error(`loadgen worker ${c.init.workerIndex}: lifetime exceeded, exiting`);
          process.exit(2);
        }, c.init.maxLifetimeMs).unref();
        reply({ cmd: 'init', ok: true });
        return;
      }
      case 'connect':
        reply({ cmd: 'connect', ok: true, result: await worker!.connect() });
        return;
      case 'prepare':
        reply({ cmd: 'prepare', ok: true, conversations: await worker!.prepare() });
        return;
      case 'run':
        reply({ cmd: 'run', ok: true, result: await worker!.runLoad(c.run) });
        return;
      case 'close':
        await worker?.close();
        reply({ cmd: 'close', ok: true });
        setTimeout(() => process.exit(0), 50);
        return;
    }
  } catch (err) {
    reply({ cmd: c.cmd, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

process.on('message', (c: Command) => void handle(c));
// The coordinator is gone (crashed or killed): nothing left to report to.
process.on('disconnect', () => process.exit(0));
