/**
 * CPU time of a process by thread group, from /proc/<pid>/task/<tid>/stat. The JVM names its
 * native threads after the Java ones (truncated by Linux to 15 characters), so for Cassandra
 * this says which pool the CPU went to — request handling, compaction, memtable flushes, the
 * garbage collector, the JIT compilers — without JMX or an agent in the measured JVM.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { clockTicks } from './proc-stats.ts';

/**
 * Cassandra's shared request pool (SEPExecutor): its workers rename themselves after the stage
 * they last served (`Native-Transport-Requests-3`, `ReadStage-1`, `MutationStage-7` …), so one
 * thread's time cannot be told apart by stage from its name; they are one group here. The
 * split between stages comes from `nodetool tpstats` (task counts) or a JFR profile.
 */
const SHARED_POOL =
  /^(Native-Transpor|ReadStage|MutationStage|CounterMutation|ViewMutationSt|SharedPool-Work)/;
export const SHARED_POOL_GROUP = 'request stages (shared pool)';

/**
 * The pool a thread belongs to: its name without the trailing worker number (`GC Thread#1`,
 * `CompactionExecutor:2`, `C2 CompilerThre` …), so that figures stay comparable between runs.
 */
export function threadGroup(name: string): string {
  if (SHARED_POOL.test(name)) return SHARED_POOL_GROUP;
  return name.replace(/[-:#_ ]?\d+$/, '').replace(/[-:#_ ]+$/, '') || name;
}

/** One reading: CPU seconds so far and group of every live thread, by thread id. */
export type ThreadReading = Map<number, { group: string; cpuS: number; sysS: number }>;

export function readThreads(pid: number): ThreadReading {
  const out: ThreadReading = new Map();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const sysS = Number(fields[12]) / clockTicks();
    const cpuS = Number(fields[11]) / clockTicks() + sysS;
    out.set(Number(tid), { group: threadGroup(stat.slice(open + 1, close)), cpuS, sysS });
  }
  return out;
}

/**
 * CPU seconds per thread group between two readings, largest first, rounded to 10 ms; groups
 * under `minS` are summed into `other`. A thread born in between counts from zero; one that
 * died in between is missing from `after`, so its last moments are lost (pools here keep their
 * threads).
 */
export function threadGroupDelta(
  before: ThreadReading,
  after: ThreadReading,
  minS = 0.05,
  /** Count kernel time only (stime): how much of a pool's time is syscalls (futex, epoll, I/O). */
  kernelOnly = false,
): Record<string, number> {
  const byGroup = new Map<string, number>();
  const of = (t: { cpuS: number; sysS: number } | undefined) => (kernelOnly ? t?.sysS : t?.cpuS) ?? 0;
  for (const [tid, t] of after) {
    const d = of(t) - of(before.get(tid));
    if (d > 0) byGroup.set(t.group, (byGroup.get(t.group) ?? 0) + d);
  }
  const deltas = [...byGroup].sort((a, b) => b[1] - a[1]);
  const out: Record<string, number> = {};
  let other = 0;
  for (const [g, d] of deltas) {
    if (d < minS) other += d;
    else out[g] = Math.round(d * 100) / 100;
  }
  if (other > 0) out.other = Math.round(other * 100) / 100;
  return out;
}
