import { DebugEvents, Events, type Msg, type NatsConnection } from 'nats';
import { connectNats, type NatsTarget } from '../services/nats.ts';
import { drainNats } from '../util/close.ts';
import { withDeadline } from '../util/deadline.ts';
import { type Logger, silentLogger } from '../util/log.ts';
import { decodeControl, decodeRouted, encodeControl, encodeRouted } from './envelope.ts';
import type { ControlEvent, Delivery, Routed, Router, RouterHandlers } from './types.ts';
import { assertGatewayId, assertUserId } from './user-id.ts';

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

/** `servers`, and the credentials and TLS of the region's `nats` block (services/nats.ts). */
export interface NatsRouterOptions extends NatsTarget {
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
 * Routing on the region's NATS: each gateway subscribes once, at start, to its own subject
 * `chat.<region>.g.<gatewayId>`; publishing to some users on a gateway is one publish on that
 * subject, of the frame behind a one-line header with its metadata and the users' ids
 * (`envelope.ts`). Control events go to every gateway of the region on `chat.<region>.control`.
 * The connection uses `noEcho`, so a gateway never receives its own publishes, and reconnects
 * forever (NATS re-sends the subscriptions on reconnect). At-most-once, like core NATS: a
 * payload published while a receiving gateway is disconnected (or to a gateway that died) is
 * lost. The router reports each such loss through `onGap` when it notices it and again once it
 * is reconnected (`since`: when it noticed, earlier by the time a dead connection can go
 * unnoticed when it was found stale), and the gateway replays what its connections may have
 * missed.
 */
export class NatsRouter implements Router {
  readonly region: string;
  readonly gatewayId: string;
  private readonly opts: NatsRouterOptions;
  private readonly log: Logger;
  private readonly encoder = new TextEncoder();
  private nc: NatsConnection | undefined;
  private handlers: RouterHandlers | undefined;
  private closed = false;
  /** Set while disconnected: when the loss began (see `watch`). */
  private lostSince: number | undefined;
  private readonly subjectPrefix: string;
  /** Where control events between the region's gateways travel. */
  readonly controlSubject: string;
  /** Where this gateway receives the frames other gateways publish to its users. */
  readonly subject: string;

  constructor(opts: NatsRouterOptions) {
    if (!REGION_PATTERN.test(opts.region)) {
      throw new RangeError(`invalid region ${JSON.stringify(opts.region)}`);
    }
    assertGatewayId(opts.gatewayId);
    if (opts.servers.length === 0) throw new RangeError('servers must not be empty');
    this.opts = opts;
    this.region = opts.region;
    this.gatewayId = opts.gatewayId;
    this.subjectPrefix = `chat.${opts.region}.g.`;
    this.controlSubject = `chat.${opts.region}.control`;
    this.subject = this.subjectFor(opts.gatewayId);
    this.log = opts.log ?? silentLogger;
  }

  /** The subject a gateway's payloads are published on. */
  subjectFor(gatewayId: string): string {
    assertGatewayId(gatewayId);
    return `${this.subjectPrefix}${gatewayId}`;
  }

  async start(handlers: RouterHandlers): Promise<void> {
    if (this.nc || this.closed) throw new Error('NatsRouter: already started or closed');
    this.handlers = handlers;
    const nc = await connectNats(
      this.opts,
      {
        name: this.opts.name ?? `gateway-${this.gatewayId}`,
        noEcho: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.opts.reconnectWaitMs ?? DEFAULT_RECONNECT_WAIT_MS,
        reconnectJitter: this.opts.reconnectJitterMs ?? DEFAULT_RECONNECT_JITTER_MS,
        timeout: this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        ...(this.opts.pingIntervalMs === undefined ? {} : { pingInterval: this.opts.pingIntervalMs }),
      },
      'routing',
    );
    this.nc = nc;
    this.watch(nc).catch((err: unknown) => this.log.error({ err }, 'NATS status watch failed'));
    nc.subscribe(this.controlSubject, { callback: this.onControlMessage });
    nc.subscribe(this.subject, { callback: this.onGatewayMessage });
    // The server has both subscriptions once it answered a ping sent after them: a user marked
    // online here from now on can be routed to (docs/architecture.md, connect order).
    await nc.flush();
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.closed = true;
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

  async publish(gatewayId: string, userIds: readonly string[], routed: Routed): Promise<void> {
    const subject = this.subjectFor(gatewayId);
    for (const userId of userIds) assertUserId(userId);
    if (gatewayId === this.gatewayId) throw new RangeError('NatsRouter: publish to its own gateway');
    const nc = this.nc;
    if (!nc) throw new Error('NatsRouter: publish before start');
    if (userIds.length === 0) return;
    nc.publish(subject, this.encoder.encode(encodeRouted(routed, userIds)));
  }

  async publishControl(event: ControlEvent): Promise<void> {
    const nc = this.nc;
    if (!nc) throw new Error('NatsRouter: publish before start');
    nc.publish(this.controlSubject, this.encoder.encode(encodeControl(event)));
  }

  private readonly onGatewayMessage = (err: Error | null, msg: Msg): void => {
    if (err) {
      this.log.error({ err }, 'NATS subscription error');
      return;
    }
    const handlers = this.handlers;
    if (!handlers || this.closed) return;
    let delivery: Delivery;
    try {
      delivery = decodeRouted(msg.string());
    } catch (decodeErr) {
      this.log.error({ err: decodeErr }, 'dropped a malformed routed payload');
      return;
    }
    this.dispatch(() => handlers.onDelivery(delivery));
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
