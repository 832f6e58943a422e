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

/** Collects garbage in the inspected process and returns its heap usage afterwards. */
export async function collectGarbage(url: string, timeoutMs = 30_000): Promise<HeapAfterGc> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, (r: { result?: unknown; error?: { message: string } }) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg);
  });
  const call = (method: string) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer in ${timeoutMs} ms`)), timeoutMs);
      pending.set(id, (r) => {
        clearTimeout(timer);
        if (r.error) reject(new Error(`${method}: ${r.error.message}`));
        else resolve(r.result);
      });
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    return (await call('Runtime.getHeapUsage')) as HeapAfterGc;
  } finally {
    ws.close();
  }
}
