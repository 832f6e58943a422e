import { connect, type NatsConnection, type Subscription, type SubscriptionOptions } from 'nats';
import type { DeliveryHandler, Router } from './types.ts';
import { assertUserId } from './user-id.ts';

/** Wait between reconnect attempts; with the jitter below, a gateway is back within ~1.5 s. */
export const DEFAULT_RECONNECT_WAIT_MS = 1000;
export const DEFAULT_RECONNECT_JITTER_MS = 500;
/** First connect must succeed this fast or `start()` fails (readiness, not liveness). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** `ping()` fails if the round trip takes longer, e.g. while reconnecting. */
export const DEFAULT_PING_TIMEOUT_MS = 2000;

const REGION_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface NatsRouterOptions {
  servers: string[];
  /** The region's name; one subject token. */
  region: string;
  gatewayId: string;
  /** Connection name shown by the server's monitoring. Default `gateway-<gatewayId>`. */
  name?: string;
  reconnectWaitMs?: number;
  reconnectJitterMs?: number;
  connectTimeoutMs?: number;
  pingTimeoutMs?: number;
  /** Client-initiated PING interval; detects a dead server connection. nats.js default 2 min. */
  pingIntervalMs?: number;
  /** Asynchronous errors reported by the server or a subscription. Default: stderr. */
  onError?: (err: Error) => void;
}

/**
 * Routing on the region's NATS: every user held by this gateway has a subscription on
 * `chat.<region>.u.<userId>`; publishing to a user is a publish on that subject. The
 * connection uses `noEcho`, so a gateway never receives its own publishes, and reconnects
 * forever (NATS re-sends the subscriptions on reconnect). At-most-once, like core NATS: a
 * payload published while a receiving gateway is disconnected is lost; the durable path is the
 * storage layer's offline queue and the clients' resume-from-last-id.
 */
export class NatsRouter implements Router {
  readonly region: string;
  readonly gatewayId: string;
  private readonly opts: NatsRouterOptions;
  private readonly onError: (err: Error) => void;
  private readonly encoder = new TextEncoder();
  private readonly users = new Set<string>();
  private readonly subs = new Map<string, Subscription>();
  private nc: NatsConnection | undefined;
  private handler: DeliveryHandler | undefined;
  private closed = false;
  private readonly subjectPrefix: string;

  constructor(opts: NatsRouterOptions) {
    if (!REGION_PATTERN.test(opts.region)) {
      throw new RangeError(`invalid region ${JSON.stringify(opts.region)}`);
    }
    if (opts.servers.length === 0) throw new RangeError('servers must not be empty');
    this.opts = opts;
    this.region = opts.region;
    this.gatewayId = opts.gatewayId;
    this.subjectPrefix = `chat.${opts.region}.u.`;
    this.onError = opts.onError ?? ((err) => console.error('[routing/nats]', err));
  }

  /** The subject a user's payloads are published on. */
  subjectFor(userId: string): string {
    assertUserId(userId);
    return `${this.subjectPrefix}${userId}`;
  }

  async start(onDelivery: DeliveryHandler): Promise<void> {
    if (this.nc || this.closed) throw new Error('NatsRouter: already started or closed');
    this.handler = onDelivery;
    const nc = await connect({
      servers: this.opts.servers,
      name: this.opts.name ?? `gateway-${this.gatewayId}`,
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: this.opts.reconnectWaitMs ?? DEFAULT_RECONNECT_WAIT_MS,
      reconnectJitter: this.opts.reconnectJitterMs ?? DEFAULT_RECONNECT_JITTER_MS,
      timeout: this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ...(this.opts.pingIntervalMs === undefined ? {} : { pingInterval: this.opts.pingIntervalMs }),
    });
    this.nc = nc;
    this.watch(nc).catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
    for (const userId of this.users) this.subscribe(userId);
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.closed = true;
    this.users.clear();
    this.subs.clear();
    if (!nc || nc.isClosed()) return;
    // Drain: payloads already received are handed to the handler before the connection closes.
    await nc.drain();
  }

  async ping(): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) throw new Error('NatsRouter: not connected');
    const timeoutMs = this.opts.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`NatsRouter: no PONG within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([nc.rtt(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  addUser(userId: string): void {
    assertUserId(userId);
    if (this.closed || this.users.has(userId)) return;
    this.users.add(userId);
    if (this.nc) this.subscribe(userId);
  }

  removeUser(userId: string): void {
    assertUserId(userId);
    if (!this.users.delete(userId)) return;
    this.subs.get(userId)?.unsubscribe();
    this.subs.delete(userId);
  }

  async publish(userIds: readonly string[], payload: string): Promise<void> {
    const subjects = userIds.map((userId) => this.subjectFor(userId));
    const nc = this.nc;
    if (!nc) throw new Error('NatsRouter: publish before start');
    const data = this.encoder.encode(payload);
    for (const subject of subjects) nc.publish(subject, data);
  }

  private subscribe(userId: string): void {
    const nc = this.nc;
    if (!nc || this.subs.has(userId)) return;
    // One callback shared by every subscription (the user is read back from the subject): a
    // closure and options object per user were ~300 bytes of every idle connection.
    this.subs.set(userId, nc.subscribe(this.subjectFor(userId), this.subscriptionOptions));
  }

  private readonly subscriptionOptions: SubscriptionOptions = {
    callback: (err, msg) => {
      if (err) {
        this.onError(err);
        return;
      }
      const userId = msg.subject.slice(this.subjectPrefix.length);
      const handler = this.handler;
      if (!handler || !this.users.has(userId)) return;
      try {
        handler({ userId, payload: msg.string() });
      } catch (handlerErr) {
        // A throw inside a nats.js callback would break its protocol parser; surface it on
        // its own stack instead.
        queueMicrotask(() => {
          throw handlerErr;
        });
      }
    },
  };

  /** Reports server-side async errors (e.g. permissions) through `onError`. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'error') {
        this.onError(new Error(`NATS async error: ${String(status.data)}`));
      }
    }
  }
}
