/**
 * SDK clients for tests against a test gateway: quick reconnects and a short request timeout,
 * every client (and anything else registered with `onCleanup`) closed after the file's tests, in
 * reverse order; and a fresh user id per call.
 */
import { after } from 'node:test';
import WebSocket from 'ws';
import { ChatClient } from '../../src/client/index.ts';
import { token } from './gateway.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Runs `fn` after the file's tests (before the clients opened earlier are closed). */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

let seq = 0;
export function sdkUser(name: string): string {
  return `${name}${++seq}_${process.pid}`;
}

export function sdkClient(url: string, userId: string): ChatClient {
  const c = new ChatClient({
    urls: [url],
    token: () => token(userId),
    WebSocket,
    backoff: { initialMs: 20, maxMs: 300, factor: 2, jitter: 1 },
    requestTimeoutMs: 5000,
  });
  cleanups.push(() => c.close());
  return c;
}
