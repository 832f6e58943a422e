/**
 * Gateways as OS processes, started the way production starts them (`node dist/main.js`, the
 * compiled build; docs/operations.md), the way a region runs them: one regions.yaml, one process
 * per gateway with its own port and worker id. The processes are SIGKILLed if the test process
 * exits without stopping them.
 */
import { join, resolve } from 'node:path';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';
import { eventually } from './eventually.ts';
import { startProcess } from './proc.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Arguments for `process.execPath` that start the compiled gateway (cwd: the repo root),
 * building dist/ first when it is older than the sources, so a test runs the code as it is.
 */
export function compiledGatewayArgs(): string[] {
  ensureBuilt(ROOT);
  return [join(ROOT, 'dist/main.js')];
}

export interface GatewayProcess {
  port: number;
  workerId: number;
  /** Raw WebSocket endpoint. */
  url: string;
  /** HTTP base (also the Socket.IO URL). */
  httpUrl: string;
  pid: number;
  logTail(lines?: number): string;
  /** Signals the process and waits for it to exit. */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  exitReason(): string | undefined;
}

export async function startGatewayProcess(opts: {
  configFile: string;
  region: string;
  port: number;
  workerId: number;
  /** Where the log file goes. */
  dir: string;
  /** More environment (secrets such as CHAT_REDIS_PASSWORD). */
  env?: Record<string, string>;
}): Promise<GatewayProcess> {
  const logFile = join(opts.dir, `gateway-${opts.workerId}.log`);
  const proc = startProcess(process.execPath, compiledGatewayArgs(), {
    cwd: ROOT,
    logFile,
    env: {
      ...process.env,
      CHAT_CONFIG: opts.configFile,
      CHAT_REGION: opts.region,
      CHAT_PORT: String(opts.port),
      CHAT_WORKER_ID: String(opts.workerId),
      ...opts.env,
    },
  });
  const httpUrl = `http://127.0.0.1:${opts.port}`;
  try {
    await eventually(
      async () => {
        const exited = proc.exitReason();
        if (exited) throw new Error(`gateway ${opts.workerId} ${exited}`);
        const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.status !== 200) throw new Error(`readyz ${res.status}: ${await res.text()}`);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  } catch (err) {
    const tail = proc.logTail();
    proc.child.kill('SIGKILL');
    throw new Error(`gateway process ${opts.workerId} did not become ready: ${String(err)}\n${tail}`);
  }
  const exited = new Promise<void>((r) => {
    if (proc.exitReason() !== undefined) r();
    else proc.child.once('exit', () => r());
  });
  return {
    port: opts.port,
    workerId: opts.workerId,
    url: `ws://127.0.0.1:${opts.port}/ws`,
    httpUrl,
    pid: proc.pid,
    logTail: (lines) => proc.logTail(lines),
    exitReason: () => proc.exitReason(),
    async kill(signal) {
      if (proc.exitReason() === undefined) proc.child.kill(signal);
      await exited;
    },
  };
}
