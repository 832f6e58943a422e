/**
 * Resource use of a process under test, read from Linux /proc: resident memory and CPU time.
 * RSS counts what the process holds in user space (V8 heap, uWS buffers, native maps); kernel
 * socket buffers are not in it.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux almost always). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Resident set size in bytes (VmRSS), or 0 once the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds the process has used so far (its own threads, not children). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; everything after its closing parenthesis is positional.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the full line, i.e. 11 and 12 after comm and state.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return 0;
  }
}

/**
 * CPU seconds the whole machine spent busy (all CPUs, everything but idle and iowait), from
 * /proc/stat. Compared with the processes we measure it shows how much went elsewhere: other
 * tenants of a shared machine, and kernel time (softirq for loopback TCP) not billed to them.
 */
export function machineBusySeconds(): number {
  const line = safeRead('/proc/stat').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / clockTicks();
}

/** 1-, 5- and 15-minute load averages. */
export function loadAverage(): number[] {
  return safeRead('/proc/loadavg').split(' ').slice(0, 3).map(Number);
}

/** CPU seconds and peak RSS of a process over a window: call `stop()` at its end. */
export function sampleProcess(pid: number, intervalMs = 250): { stop(): { cpuS: number; peakRss: number } } {
  const cpu0 = cpuSeconds(pid);
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, rssBytes(pid));
      return { cpuS: cpuSeconds(pid) - cpu0, peakRss: peak };
    },
  };
}

/** pids of this process's direct children whose command name is `comm` (e.g. `nats-server`). */
export function childPids(comm: string): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const stat = safeRead(`/proc/${e}/stat`);
    const close = stat.lastIndexOf(')');
    if (close < 0 || stat.slice(stat.indexOf('(') + 1, close) !== comm) continue;
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    if (ppid === process.pid) out.push(Number(e));
  }
  return out;
}

/** The machine the run happened on, for the report. */
export function machineInfo(): { nproc: number; memTotalBytes: number; cpuModel: string; kernel: string } {
  const cpuinfo = safeRead('/proc/cpuinfo');
  const meminfo = safeRead('/proc/meminfo');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const nproc = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const mem = /^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo);
  const kernel = safeRead('/proc/sys/kernel/osrelease').trim();
  return { nproc, memTotalBytes: mem ? Number(mem[1]) * 1024 : 0, cpuModel: model, kernel };
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The open-files limit a child can raise itself to (the hard limit), read from /proc. */
export function fdLimits(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(safeRead('/proc/self/limits'));
  const n = (s: string | undefined) =>
    s === undefined || s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}
