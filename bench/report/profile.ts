/**
 * Summarises V8 CPU profiles (`node --cpu-prof`) of gateways under load: where the samples fell,
 * by function (self time), by function including callees (total time), and by module (our
 * source files, each npm package, Node internals, GC).
 *
 *   npx tsx bench/report/profile.ts bench/results/profiles/gateway-dm-gateway.cpuprofile [--top 25]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  fn: string;
  where: string;
  self_pct: number;
  total_pct: number;
}

export interface ProfileSummary {
  file: string;
  /** `main` when the profile ran the gateway's code, else a helper thread (tsx's module loader). */
  thread: 'main' | 'other';
  duration_s: number;
  /** Share of samples that were not idle: how busy the process was. */
  busy_pct: number;
  top_self: Hotspot[];
  top_total: Hotspot[];
  by_module: { module: string; self_pct: number }[];
}

/** Which bucket a frame's code belongs to. */
function moduleOf(f: CallFrame): string {
  if (f.url === '') return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (pkg) return pkg[1]!;
  if (f.url.startsWith('node:')) return f.url;
  const src = /\/((?:src|bench|test)\/.+)$/.exec(f.url);
  return src ? src[1]! : f.url;
}

function where(f: CallFrame): string {
  const m = moduleOf(f);
  return f.url === '' ? m : `${m}:${f.lineNumber + 1}`;
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (f: CallFrame) => `${f.functionName || '(anonymous)'}@${where(f)}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const modules = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let all = 0;
  let idle = 0;
  const thread = p.nodes.some((n) => /\/src\/gateway\//.test(n.callFrame.url)) ? 'main' : 'other';
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    all += dt;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      return;
    }
    const k = key(node.callFrame);
    frames.set(k, node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const mod = moduleOf(node.callFrame);
    modules.set(mod, (modules.get(mod) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const ck = key(f);
      if (seen.has(ck) || f.functionName === '(root)') continue;
      seen.add(ck);
      frames.set(ck, f);
      total.set(ck, (total.get(ck) ?? 0) + dt);
    }
  });
  const busy = all - idle || 1;
  const pct = (v: number) => Math.round((v / busy) * 1000) / 10;
  const hot = (m: Map<string, number>): Hotspot[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k]) => {
        const f = frames.get(k)!;
        return {
          fn: f.functionName || '(anonymous)',
          where: where(f),
          self_pct: pct(self.get(k) ?? 0),
          total_pct: pct(total.get(k) ?? 0),
        };
      });
  return {
    file: basename(file),
    thread,
    duration_s: Math.round((p.endTime - p.startTime) / 1e5) / 10,
    busy_pct: Math.round(((all - idle) / (all || 1)) * 1000) / 10,
    top_self: hot(self),
    top_total: hot(total),
    by_module: [...modules.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([module, v]) => ({ module, self_pct: pct(v) })),
  };
}

/** The main-thread profiles under `dir` (one subdirectory per gateway), summarised. */
export function summarizeProfiles(dir: string, top = 20): ProfileSummary[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => ({ ...summarizeProfile(join(dir, f), top), file: f }))
    .filter((s) => s.thread === 'main');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const topIdx = args.indexOf('--top');
  const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 20;
  for (const file of args.filter((a, i) => !a.startsWith('--') && i !== topIdx + 1)) {
    const s = summarizeProfile(file, top);
    console.log(`\n${s.file}: ${s.duration_s} s, busy ${s.busy_pct} %`);
    console.log('  by module (self % of busy time):');
    for (const m of s.by_module) console.log(`    ${m.self_pct.toFixed(1).padStart(5)}  ${m.module}`);
    console.log('  top self:');
    for (const h of s.top_self) {
      console.log(
        `    ${h.self_pct.toFixed(1).padStart(5)}  (total ${h.total_pct.toFixed(1)})  ${h.fn}  ${h.where}`,
      );
    }
    console.log('  top total:');
    for (const h of s.top_total)
      console.log(`    ${h.total_pct.toFixed(1).padStart(5)}  ${h.fn}  ${h.where}`);
  }
}
