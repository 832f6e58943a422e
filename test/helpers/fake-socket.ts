/** A scripted fake WebSocket and a `ChatClient` wired to it, for the SDK's unit tests (no server). */
import assert from 'node:assert/strict';
import {
  ChatClient,
  type ChatClientError,
  type ChatClientOptions,
  type StateChange,
  type WireMessage,
} from '../../src/client/index.ts';
import { eventually } from './eventually.ts';

// ---- a scripted WebSocket -----------------------------------------------------------------

export type Frame = Record<string, unknown> & { op: string };
type AnyListener = (event: never) => void;

export class FakeSocket {
  static instances: FakeSocket[] = [];
  readyState = 0;
  readonly sent: Frame[] = [];
  closedByClient: number | null = null;
  private readonly listeners = new Map<string, AnyListener[]>();

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.instances.push(this);
  }

  static reset(): void {
    FakeSocket.instances = [];
  }

  static last(): FakeSocket {
    const s = FakeSocket.instances.at(-1);
    assert.ok(s, 'no socket was created');
    return s;
  }

  addEventListener(type: string, listener: AnyListener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener);
    this.listeners.set(type, list);
  }

  send(data: string): void {
    assert.equal(this.readyState, 1, 'client sent on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000): void {
    if (this.readyState >= 2) return;
    this.closedByClient = code;
    this.readyState = 3;
    queueMicrotask(() => this.fire('close', { code, reason: '' }));
  }

  // -- the server's side --

  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  sentOps(op: string): Frame[] {
    return this.sent.filter((f) => f.op === op);
  }

  accept(region = 'test', opts: { sync?: boolean } = {}): void {
    this.readyState = 1;
    this.fire('open', {});
    this.push({
      op: 'welcome',
      v: 1,
      userId: 'alice',
      connectionId: `c${FakeSocket.instances.length}`,
      region,
      gatewayId: `${region}-gw`,
      serverTime: Date.now(),
      limits: { maxFrameBytes: 4096, maxBodyChars: 1000, rateLimitPerSec: 50, rateLimitBurst: 100 },
    });
    if (opts.sync !== false) this.push({ op: 'synced', id: null, count: 0, lastId: null, truncated: false });
  }

  push(frame: Record<string, unknown>): void {
    this.fire('message', { data: JSON.stringify(frame) });
  }

  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.fire('close', { code, reason });
  }

  refuse(status: number): void {
    this.fire('error', { message: `Unexpected server response: ${status}` });
    this.drop(1006);
  }

  reply(op: string, fields: Record<string, unknown>): void {
    const req = this.sent.filter((f) => f.op === op).at(-1);
    assert.ok(req, `no ${op} request`);
    this.push({ id: req.id, ...fields });
  }

  private fire(type: string, event: unknown): void {
    for (const l of this.listeners.get(type) ?? []) (l as (e: unknown) => void)(event);
  }
}

export function msg(id: string, conversationId = 'dm:alice:bob', body = `m${id}`): WireMessage {
  return { id, conversationId, senderId: 'bob', clientMsgId: null, body, createdAt: 1 };
}

export function sentReply(
  messageId: string,
  conversationId: string,
  duplicate = false,
): Record<string, unknown> {
  return { op: 'sent', messageId, conversationId, createdAt: 2, duplicate };
}

export function newClient(overrides: Partial<ChatClientOptions> = {}): ChatClient {
  FakeSocket.reset();
  return new ChatClient({
    urls: ['ws://a.test/ws', 'ws://b.test/ws'],
    token: 'tok',
    device: 'unit',
    WebSocket: FakeSocket,
    backoff: { initialMs: 0, maxMs: 0, factor: 2, jitter: 1 },
    resendBackoff: { initialMs: 0, maxMs: 0, factor: 2, jitter: 1 },
    requestTimeoutMs: 500,
    pingIntervalMs: 0,
    // The fake server does not answer the list the client reads after each replay.
    refreshConversations: false,
    ...overrides,
  });
}

export function record(client: ChatClient) {
  const messages: WireMessage[] = [];
  const states: StateChange[] = [];
  const errors: ChatClientError[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('state', (s) => states.push(s));
  client.on('error', (e) => errors.push(e));
  return { messages, states, errors };
}

/** Lets queued microtasks and zero-delay timers run. */
export const tick = () => new Promise((r) => setTimeout(r, 0));

export async function connected(client: ChatClient, opts: { sync?: boolean } = {}): Promise<FakeSocket> {
  const done = client.connect();
  await eventually(() => assert.equal(FakeSocket.instances.length > 0, true));
  const sock = FakeSocket.last();
  sock.accept('test', opts);
  await done;
  return sock;
}
