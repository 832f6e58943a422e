import {
  connect,
  DebugEvents,
  Events,
  type Msg,
  type NatsConnection,
  type Subscription,
  type SubscriptionOptions,
} from 'nats';
import { drainNats } from '../util/close.ts';
import { withDeadline } from '../util/deadline.ts';
import { type Logger, silentLogger } from '../util/log.ts';
import { decodeControl, decodeRouted, encodeControl, encodeRouted } from './envelope.ts';
import type { ControlEvent, Routed, Router, RouterHandlers } from './types.ts';
import { assertUserId } from './user-id.ts';

/** Wait between reconnect attempts; with the jitter below, a gateway is back within ~1.5 s. */
export const DEFAULT_RECONNECT_WAIT_MS = 1000;
export const DEFAULT_RECONNECT_JITTER_MS = 500;
/** First connect must succeed this fast or `start()` fails (readiness, not liveness). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** `ping()` fails if the round trip takes longer, e.g. while reconnecting. */
export const DEFAULT_PING_TIMEOUT_MS = 2000;

/** nats.js defaults for `pingInterval` and `maxPingOut`, which this router leaves as they are. */
const NATS_DEFAULT_PING_INTERVAL_MS = 120_000;
const NATS_DEFAULT_MAX_PING_OUT = 2;

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
  /** Where asynchronous errors (reported by the server or a subscription) go. Default: silent. */
  log?: Logger;
}

/**
 * Routing on the region's NATS: every user held by this gateway has a subscription on
 * `chat.<region>.u.<userId>`; publishing to a user is a publish on that subject, of the frame
 * behind a one-line header with its metadata (`envelope.ts`). Control events go to every
 * gateway of the region on `chat.<region>.control`. The
 * connection uses `noEcho`, so a gateway never receives its own publishes, and reconnects
 * forever (NATS re-sends the subscriptions on reconnect). At-most-once, like core NATS: a
 * payload published while a receiving gateway is disconnected is lost. The router reports each
 * such loss through `onGap` when it notices it and again once it is reconnected (`since`: when it
 * noticed, earlier by the time a dead connection can go unnoticed when it was found stale), and
 * the gateway replays what its connections may have missed.
 */
export class NatsRouter implements Router {
  readonly region: string;
  readonly gatewayId: string;
  private readonly opts: NatsRouterOptions;
  private readonly log: Logger;
  private readonly encoder = new TextEncoder();
  private readonly users = new Set<string>();
  private readonly subs = new Map<string, Subscription>();
  private nc: NatsConnection | undefined;
  private handlers: RouterHandlers | undefined;
  private closed = false;
  /** Set while disconnected: when the loss began (see `watch`). */
  private lostSince: number | undefined;
  private readonly subjectPrefix: string;
  /** Where control events between the region's gateways travel. */
  readonly controlSubject: string;

  constructor(opts: NatsRouterOptions) {
    if (!REGION_PATTERN.test(opts.region)) {
      throw new RangeError(`invalid region ${JSON.stringify(opts.region)}`);
    }
    if (opts.servers.length === 0) throw new RangeError('servers must not be empty');
    this.opts = opts;
    this.region = opts.region;
    this.gatewayId = opts.gatewayId;
    this.subjectPrefix = `chat.${opts.region}.u.`;
    this.controlSubject = `chat.${opts.region}.control`;
    this.log = opts.log ?? silentLogger;
  }

  /** The subject a user's payloads are published on. */
  subjectFor(userId: string): string {
    assertUserId(userId);
    return `${this.subjectPrefix}${userId}`;
  }

  async start(handlers: RouterHandlers): Promise<void> {
    if (this.nc || this.closed) throw new Error('NatsRouter: already started or closed');
    this.handlers = handlers;
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
    this.watch(nc).catch((err: unknown) => this.log.error({ err }, 'NATS status watch failed'));
    nc.subscribe(this.controlSubject, { callback: this.onControlMessage });
    for (const userId of this.users) this.subscribe(userId);
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.closed = true;
    this.users.clear();
    this.subs.clear();
    if (!nc || nc.isClosed()) return;
    // Drain: payloads already received are handed to the handler before the connection closes.
    // While the server is unreachable a drain waits for a reconnect (forever): close after a grace.
    if (!(await drainNats(nc))) this.log.warn('NATS drain did not finish; connection closed');
  }

  async ping(): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) throw new Error('NatsRouter: not connected');
    const timeoutMs = this.opts.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    await withDeadline(nc.rtt(), timeoutMs, `NatsRouter: no PONG within ${timeoutMs} ms`);
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

  async publish(userIds: readonly string[], routed: Routed): Promise<void> {
    const subjects = userIds.map((userId) => this.subjectFor(userId));
    const nc = this.nc;
    if (!nc) throw new Error('NatsRouter: publish before start');
    // Encoded once for every recipient: one publish per member is the hot path.
    const data = this.encoder.encode(encodeRouted(routed));
    for (const subject of subjects) nc.publish(subject, data);
  }

  async publishControl(event: ControlEvent): Promise<void> {
    const nc = this.nc;
    if (!nc) throw new Error('NatsRouter: publish before start');
    nc.publish(this.controlSubject, this.encoder.encode(encodeControl(event)));
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
        this.log.error({ err }, 'NATS subscription error');
        return;
      }
      const userId = msg.subject.slice(this.subjectPrefix.length);
      const handlers = this.handlers;
      if (!handlers || !this.users.has(userId)) return;
      let routed: Routed;
      try {
        routed = decodeRouted(msg.string());
      } catch (decodeErr) {
        this.log.error({ err: decodeErr, userId }, 'dropped a malformed routed payload');
        return;
      }
      this.dispatch(() => handlers.onDelivery({ userId, routed }));
    },
  };

  private readonly onControlMessage = (err: Error | null, msg: Msg): void => {
    if (err) {
      this.log.error({ err }, 'NATS control subscription failed');
      return;
    }
    const handlers = this.handlers;
    if (!handlers) return;
    let event: ControlEvent;
    try {
      event = decodeControl(msg.string());
    } catch (decodeErr) {
      this.log.error({ err: decodeErr }, 'dropped a malformed control event');
      return;
    }
    this.dispatch(() => handlers.onControl(event));
  };

  /** Runs a handler from inside a nats.js callback. */
  private dispatch(run: () => void): void {
    try {
      run();
    } catch (handlerErr) {
      // A throw inside a nats.js callback would break its protocol parser; surface it on
      // its own stack instead.
      queueMicrotask(() => {
        throw handlerErr;
      });
    }
  }

  /**
   * Logs server-side async errors (e.g. permissions), and turns a disconnect and the reconnect
   * after it into one `onGap`: payloads published to our users in between never arrive.
   */
  private async watch(nc: NatsConnection): Promise<void> {
    let stale = false;
    for await (const status of nc.status()) {
      if (status.type === Events.Error) {
        this.log.error({ err: new Error(`NATS async error: ${String(status.data)}`) }, 'NATS async error');
      } else if (status.type === DebugEvents.StaleConnection) {
        // Pings went unanswered: the link may have been dead since the first of them.
        stale = true;
      } else if (status.type === Events.Disconnect && !this.closed) {
        if (this.lostSince === undefined) {
          const now = Date.now();
          const since = stale ? now - this.staleWindowMs() : now;
          this.lostSince = since;
          this.log.warn({ server: String(status.data), stale }, 'NATS connection lost; reconnecting');
          const handlers = this.handlers;
          if (handlers) this.dispatch(() => handlers.onGap({ since, until: null }));
        }
        stale = false;
      } else if (status.type === Events.Reconnect && this.lostSince !== undefined && !this.closed) {
        const gap = { since: this.lostSince, until: Date.now() };
        this.lostSince = undefined;
        this.log.warn({ gapMs: gap.until - gap.since }, 'NATS reconnected; deliveries in the gap are lost');
        const handlers = this.handlers;
        if (handlers) this.dispatch(() => handlers.onGap(gap));
      }
    }
  }

  /** How long a dead connection can look alive: the client pings outstanding before it gives up. */
  private staleWindowMs(): number {
    return (this.opts.pingIntervalMs ?? NATS_DEFAULT_PING_INTERVAL_MS) * (NATS_DEFAULT_MAX_PING_OUT + 1);
  }
}
