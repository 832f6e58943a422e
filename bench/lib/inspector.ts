/**
 * A minimal Chrome DevTools Protocol client for a child started with `--inspect=127.0.0.1:0`:
 * forces a full garbage collection and reads the V8 heap's size, so the idle scenario can tell
 * memory a connection keeps from garbage not collected yet.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

/** The inspector URL the child printed ("Debugger listening on ws://…"), or null. */
export function inspectorUrl(logFile: string): string | null {
  try {
    return /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

export interface HeapAfterGc {
  /** V8 heap bytes in use after a full GC. */
  usedSize: number;
  totalSize: number;
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** Live bytes by allocating function (and its module), from V8's sampling heap profiler. */
export interface RetainedBy {
  fn: string;
  where: string;
  bytes: number;
}

/** A CDP session on an inspected child. */
export class Inspector {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    (r: { result?: unknown; error?: { message: string } }) => void
  >();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id !== undefined) this.pending.get(msg.id)?.(msg);
    });
  }

  static async open(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer in ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, (r) => {
        this.pending.delete(id);
        clearTimeout(timer);
        if (r.error) reject(new Error(`${method}: ${r.error.message}`));
        else resolve(r.result);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Forces a full garbage collection and returns the heap usage afterwards. */
  async collectGarbage(): Promise<HeapAfterGc> {
    await this.call('HeapProfiler.collectGarbage');
    return (await this.call('Runtime.getHeapUsage')) as HeapAfterGc;
  }

  /** Starts V8's sampling heap profiler (one sample per `intervalBytes` allocated). */
  async startHeapSampling(intervalBytes = 16_384): Promise<void> {
    await this.call('HeapProfiler.startSampling', { samplingInterval: intervalBytes });
  }

  /** Live sampled allocations, summed by allocating function; stops the sampler. */
  async retainedByFunction(top = 15): Promise<RetainedBy[]> {
    const { profile } = (await this.call('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
    const sums = new Map<string, RetainedBy>();
    const walk = (n: SamplingNode) => {
      if (n.selfSize > 0) {
        const f = n.callFrame;
        const mod =
          /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url)?.[1] ??
          /\/((?:src|bench)\/.+)$/.exec(f.url)?.[1] ??
          f.url;
        const key = `${f.functionName || '(anonymous)'}@${mod}`;
        const e = sums.get(key) ?? {
          fn: f.functionName || '(anonymous)',
          where: mod || '(native)',
          bytes: 0,
        };
        e.bytes += n.selfSize;
        sums.set(key, e);
      }
      for (const c of n.children) walk(c);
    };
    walk(profile.head);
    return [...sums.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top);
  }

  close(): void {
    this.ws.close();
  }
}

/** Collects garbage in the inspected process and returns its heap usage afterwards. */
export async function collectGarbage(url: string): Promise<HeapAfterGc> {
  const i = await Inspector.open(url);
  try {
    return await i.collectGarbage();
  } finally {
    i.close();
  }
}
