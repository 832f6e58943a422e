/**
 * The coordinator side of the load generator: forks worker processes (bench/loadgen/worker.ts),
 * deals users and conversations out to them, drives them through connect → prepare → runs, and
 * merges what they measured.
 */
import { join } from 'node:path';
import type { Command, ConnectResult, Reply, RunResult, Unit, WorkerInit } from '../loadgen/types.ts';
import { type NodeChild, spawnNode } from './children.ts';
import { Histogram } from './histogram.ts';

export interface LoadGenOptions extends Omit<WorkerInit, 'workerIndex' | 'users' | 'units'> {
  workers: number;
  /** Users with no traffic (idle connections); dealt out evenly. */
  idleUsers?: string[];
  units?: Unit[];
  logDir: string;
}

export interface AggregateRun {
  rate: number;
  windowMs: number;
  sent: number;
  unsendable: number;
  acked: number;
  msgsPerS: number;
  deliveriesPerS: number;
  lostAcks: number;
  lostDeliveries: number;
  errorFrames: Record<string, number>;
  connectionsClosed: number;
  ack: Histogram;
  delivery: Histogram;
  lag: Histogram;
  probe: Histogram;
}

class WorkerHandle {
  private waiting: { cmd: string; resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;

  constructor(readonly proc: NodeChild) {
    proc.child.on('message', (r: Reply) => {
      const w = this.waiting;
      if (!w || w.cmd !== r.cmd) return;
      this.waiting = null;
      if (r.ok) w.resolve(r);
      else w.reject(new Error(`loadgen worker ${r.cmd} failed: ${r.error}`));
    });
    void proc.exited.then((why) => {
      const w = this.waiting;
      this.waiting = null;
      w?.reject(new Error(`loadgen worker ${why}:\n${proc.logTail()}`));
    });
  }

  get busy(): boolean {
    return this.waiting !== null;
  }

  request<R extends Reply>(c: Command, timeoutMs: number): Promise<R> {
    if (this.waiting) throw new Error('loadgen worker busy');
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`loadgen worker: ${c.cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        cmd: c.cmd,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as R);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.proc.child.send(c);
    });
  }
}

/**
 * Waits for every worker's answer (so none is left mid-request), then returns them all or
 * throws the first failure.
 */
async function all<T>(ps: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(ps);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

export class LoadGen {
  private constructor(
    private readonly handles: WorkerHandle[],
    private readonly opts: LoadGenOptions,
  ) {}

  get pids(): number[] {
    return this.handles.map((h) => h.proc.pid);
  }

  static async start(opts: LoadGenOptions): Promise<LoadGen> {
    const n = Math.max(1, opts.workers);
    const units: Unit[][] = Array.from({ length: n }, () => []);
    const users: string[][] = Array.from({ length: n }, () => []);
    // Conversations whole, round robin: a conversation's members all live in one worker.
    (opts.units ?? []).forEach((u, i) => {
      units[i % n]!.push(u);
      for (const m of u.members) users[i % n]!.push(m);
    });
    (opts.idleUsers ?? []).forEach((u, i) => {
      users[i % n]!.push(u);
    });
    const handles: WorkerHandle[] = [];
    for (let i = 0; i < n; i++) {
      const proc = spawnNode({
        script: 'bench/loadgen/worker.ts',
        logFile: join(opts.logDir, `loadgen-${i}.log`),
        ipc: true,
      });
      handles.push(new WorkerHandle(proc));
    }
    const { workers: _w, idleUsers: _i, units: _u, logDir: _l, ...shared } = opts;
    const lg = new LoadGen(handles, opts);
    try {
      await all(
        handles.map((h, i) =>
          h.request(
            {
              cmd: 'init',
              init: { ...shared, workerIndex: i, users: [...new Set(users[i])], units: units[i]! },
            },
            30_000,
          ),
        ),
      );
    } catch (err) {
      await lg.close();
      throw err;
    }
    return lg;
  }

  /** Opens every connection; duration is wall time until the last one is ready. */
  async connect(timeoutMs = 600_000): Promise<ConnectResult> {
    const started = performance.now();
    const rs = await all(
      this.handles.map((h) =>
        h.request<Extract<Reply, { cmd: 'connect'; ok: true }>>({ cmd: 'connect' }, timeoutMs),
      ),
    );
    return {
      connected: rs.reduce((a, r) => a + r.result.connected, 0),
      failed: rs.reduce((a, r) => a + r.result.failed, 0),
      retried: rs.reduce((a, r) => a + r.result.retried, 0),
      firstError: rs.find((r) => r.result.firstError)?.result.firstError ?? null,
      durationMs: performance.now() - started,
    };
  }

  async prepare(): Promise<void> {
    await all(this.handles.map((h) => h.request({ cmd: 'prepare' }, 300_000)));
  }

  /** One open-loop step at `rate` messages/s in total, split evenly across workers. */
  async run(
    rate: number,
    p: { warmupMs: number; measureMs: number; drainMs: number; startAt: number },
  ): Promise<AggregateRun> {
    const per = rate / this.handles.length;
    const timeout = p.startAt - Date.now() + p.warmupMs + p.measureMs + p.drainMs + 60_000;
    const rs = await all(
      this.handles.map((h) =>
        h.request<Extract<Reply, { cmd: 'run'; ok: true }>>(
          { cmd: 'run', run: { ...p, rate: per } },
          timeout,
        ),
      ),
    );
    return aggregate(
      rate,
      rs.map((r) => r.result),
    );
  }

  /** Closes the connections and ends the workers; a worker still busy with a request is just stopped. */
  async close(): Promise<void> {
    await Promise.allSettled(
      this.handles.filter((h) => !h.busy).map((h) => h.request({ cmd: 'close' }, 15_000)),
    );
    await Promise.all(this.handles.map((h) => h.proc.stop(2000)));
  }

  get options(): LoadGenOptions {
    return this.opts;
  }
}

function aggregate(rate: number, rs: RunResult[]): AggregateRun {
  const ack = new Histogram();
  const delivery = new Histogram();
  const lag = new Histogram();
  const probe = new Histogram();
  const errorFrames: Record<string, number> = {};
  const sum = (f: (r: RunResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  for (const r of rs) {
    ack.merge(r.ack);
    delivery.merge(r.delivery);
    lag.merge(r.lag);
    probe.merge(r.probe);
    for (const [code, n] of Object.entries(r.errorFrames)) errorFrames[code] = (errorFrames[code] ?? 0) + n;
  }
  const windowMs = rs[0]?.windowMs ?? 1;
  return {
    rate,
    windowMs,
    sent: sum((r) => r.sent),
    unsendable: sum((r) => r.unsendable),
    acked: sum((r) => r.acked),
    msgsPerS: (sum((r) => r.ackedInWindow) * 1000) / windowMs,
    deliveriesPerS: (sum((r) => r.deliveredInWindow) * 1000) / windowMs,
    lostAcks: sum((r) => r.measured - r.measuredAcked),
    lostDeliveries: sum((r) => r.measuredExpectedDeliveries - r.measuredDelivered),
    errorFrames,
    connectionsClosed: sum((r) => r.connectionsClosed),
    ack,
    delivery,
    lag,
    probe,
  };
}
