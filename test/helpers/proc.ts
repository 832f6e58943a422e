import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';

/** A server process started by a test helper. */
export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** Why the process is gone (exit code, signal or spawn error), or undefined while it runs. */
  exitReason(): string | undefined;
  /** Last lines of its log file, for error messages. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

// Servers still running that this process started (not detached). One shared set of handlers
// kills them if this process exits or is signalled without calling stop(): a crashed or
// interrupted test must not leave servers (or a 1 GB JVM) behind.
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let handlersInstalled = false;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * Registers a helper's temp dir for removal if this process exits or is signalled before the
 * helper's close() runs. Returns a function that unregisters it (call it from close()).
 */
export function removeOnExit(dir: string): () => void {
  installHandlers();
  tempDirs.add(dir);
  return () => tempDirs.delete(dir);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(sig, () => {
      killAll();
      // Keep the default "exit on signal" unless the program has its own handler for it.
      if (process.listenerCount(sig) === 1) process.exit(code);
    });
  }
}

/**
 * Spawns `cmd` with stdout and stderr appended to `logFile` (and `env`, default this process's).
 * Unless `detached`, the process is SIGKILLed when this Node process exits or gets SIGINT/SIGTERM.
 */
export function startProcess(
  cmd: string,
  args: string[],
  opts: { cwd: string; logFile: string; detached?: boolean; env?: NodeJS.ProcessEnv },
): ServiceProcess {
  const out = openSync(opts.logFile, 'a');
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    stdio: ['ignore', out, out],
    detached: opts.detached,
    ...(opts.env ? { env: opts.env } : {}),
  });
  closeSync(out);
  let reason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      reason = `exited with ${code ?? signal}`;
      resolve();
    });
    child.once('error', (err) => {
      reason = `failed to start ${cmd}: ${err.message}`;
      resolve();
    });
  });
  if (opts.detached) child.unref();
  else {
    installHandlers();
    live.add(child);
    child.once('exit', () => live.delete(child));
  }

  return {
    child,
    pid: child.pid ?? -1,
    logFile: opts.logFile,
    exitReason: () => reason,
    logTail: (lines = 30) =>
      existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').split('\n').slice(-lines).join('\n') : '',
    async stop(graceMs = 10_000) {
      if (reason !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
