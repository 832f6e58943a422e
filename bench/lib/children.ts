/**
 * Child processes of a benchmark run: servers under test and load-generator workers. Each is
 * started through `bash -c 'ulimit -n <hard>; exec …'` so it may hold as many sockets as the
 * hard open-files limit allows (Node has no setrlimit of its own), and `exec` keeps the pid the
 * one we measure. Every child is SIGKILLed if the coordinator exits without stopping it.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

const live = new Set<ChildProcess>();
let installed = false;

function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export interface NodeChild {
  child: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<string>;
  /** Why it exited, or undefined while it runs. */
  exitReason(): string | undefined;
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnNodeOptions {
  /**
   * Script path relative to the repo root: a `.js` file runs on plain node (the compiled
   * gateway), a `.ts` file through tsx (baselines, load-generator workers).
   */
  script: string;
  args?: string[];
  env?: Record<string, string>;
  logFile: string;
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeFlags?: string[];
  /** Open an IPC channel (load-generator workers). */
  ipc?: boolean;
}

/** Runs `node [--import tsx] <script>` with the open-files limit raised to the hard limit. */
export function spawnNode(opts: SpawnNodeOptions): NodeChild {
  installExitHandlers();
  const out = openSync(opts.logFile, 'a');
  const stdio: StdioOptions = opts.ipc ? ['ignore', out, out, 'ipc'] : ['ignore', out, out];
  const argv = [
    ...(opts.nodeFlags ?? []),
    ...(opts.script.endsWith('.ts') ? ['--import', 'tsx'] : []),
    join(REPO_ROOT, opts.script),
    ...(opts.args ?? []),
  ];
  const child = spawn(
    'bash',
    ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...argv],
    {
      cwd: REPO_ROOT,
      stdio,
      env: { ...process.env, ...opts.env },
    },
  );
  closeSync(out);
  live.add(child);
  let reason: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      reason = `exited with ${code ?? signal}`;
      resolve(reason);
    });
    child.once('error', (err) => {
      live.delete(child);
      reason = `failed to start: ${err.message}`;
      resolve(reason);
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    logFile: opts.logFile,
    exited,
    exitReason: () => reason,
    logTail: (lines = 20) =>
      existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').split('\n').slice(-lines).join('\n') : '',
    async stop(graceMs = 15_000) {
      if (reason !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it returns true; throws with `describe()` if `child` exits or time runs out. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  child: NodeChild,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exited = child.exitReason();
    if (exited) throw new Error(`${what} ${exited}:\n${child.logTail()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      await child.stop(1000);
      throw new Error(`${what} not ready after ${timeoutMs} ms:\n${child.logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True once GET `url` answers 2xx. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}
