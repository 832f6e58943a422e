/**
 * What the two transports (raw WebSocket in `ws-endpoint.ts`, Socket.IO in `socketio.ts`) share
 * once a client is authenticated: the welcome, registration with the hub, the replay, rate limits,
 * running requests in arrival order, error frames, token expiry and cleanup. A transport adapts
 * its socket to `TransportConnection` and feeds requests in; everything else is the same code.
 */
import type { LimitsConfig } from '../config/schema.ts';
import { ChatError, CloseCode, closeReason, ErrorCode, isTransientBackendError } from '../errors.ts';
import { type ParsedClientFrame, PROTOCOL_VERSION, type ServerFrame } from '../protocol/index.ts';
import type { SessionsEnd } from '../routing/types.ts';
import type { Logger } from '../util/log.ts';
import type { ChatService } from './chat-service.ts';
import type { ClientConnection, ConnectionState } from './connection.ts';
import type { Hub } from './hub.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { ReplayFrom } from './ops/replay.ts';
import type { PresenceWatchers } from './presence-watchers.ts';
import { TokenBucket } from './rate-limit.ts';
import { endsSession, type SessionKey } from './revocations.ts';

export interface TransportConnection extends ClientConnection, SessionKey {
  /** When the client's token expires (ms since epoch); the session is closed 4401 then. */
  readonly expiresAt: number;
}

/** Where the answer to one request goes: the socket (raw) or the request's ack (Socket.IO). */
export type Respond = (frame: ServerFrame) => void;

/** What `connectReplayed` is once the connect replay ended: one object for every session. */
const CONNECT_REPLAY_ENDED: Promise<void> = Promise.resolve();

export class Session {
  readonly bucket: TokenBucket;
  /** Rate-limited requests in a row; past `floodStrikes` the connection is closed 4429. */
  strikes = 0;
  state: ConnectionState | null = null;
  /** Requests that arrived before registration finished; run in order once it has. */
  early: (() => void)[] | null = [];
  /**
   * Settles when the connect replay has ended (its `synced` sent, or it failed, or registration
   * did): a server-side resync waits for it, so the client never sees a `synced` with a null id
   * that is not its connect replay's while that one runs.
   */
  get connectReplayed(): Promise<void> {
    return this.replayed;
  }
  private replayed: Promise<void>;
  private endConnectReplay: (() => void) | null = null;

  constructor(
    readonly conn: TransportConnection,
    limits: LimitsConfig,
  ) {
    this.bucket = new TokenBucket(limits.rateLimitPerSec, limits.rateLimitBurst);
    this.replayed = new Promise((resolve) => {
      this.endConnectReplay = resolve;
    });
  }

  /** @internal `Sessions` says the connect replay ended. */
  connectReplayEnded(): void {
    this.endConnectReplay?.();
    this.endConnectReplay = null;
    // Its own promise and resolver would stay with the session for the connection's life.
    this.replayed = CONNECT_REPLAY_ENDED;
  }
}

export interface SessionsDeps {
  chat: ChatService;
  hub: Hub;
  watchers: PresenceWatchers;
  metrics: GatewayMetrics;
  limits: LimitsConfig;
  region: string;
  gatewayId: string;
  log: Logger;
}

export class Sessions {
  private readonly all = new Set<Session>();

  constructor(private readonly d: SessionsDeps) {}

  get size(): number {
    return this.all.size;
  }

  /** The open sessions, registered or not (a snapshot). */
  list(): Session[] {
    return [...this.all];
  }

  /**
   * Starts a session: sends `welcome`, registers the connection (routing, then presence), then
   * replays what it missed since `from` (its resume position) and runs the requests that arrived
   * meanwhile.
   */
  open(conn: TransportConnection, from: ReplayFrom): Session {
    const session = new Session(conn, this.d.limits);
    this.all.add(session);
    const limits = this.d.limits;
    conn.sendFrame({
      op: 'welcome',
      v: PROTOCOL_VERSION,
      userId: conn.userId,
      connectionId: conn.connectionId,
      region: this.d.region,
      gatewayId: this.d.gatewayId,
      serverTime: Date.now(),
      limits: {
        maxFrameBytes: limits.maxFrameBytes,
        maxBodyChars: limits.maxBodyChars,
        editWindowMs: limits.editWindowMs,
        maxReactionsPerMessage: limits.maxReactionsPerMessage,
        rateLimitPerSec: limits.rateLimitPerSec,
        rateLimitBurst: limits.rateLimitBurst,
      },
    });
    void this.register(session, from);
    return session;
  }

  private async register(session: Session, from: ReplayFrom): Promise<void> {
    const conn = session.conn;
    let state: ConnectionState;
    // Registration waits on presence (Redis); a hang there would leave the client with a welcome
    // and never a `synced`. Say so in the log rather than nowhere.
    const slow = setTimeout(
      () =>
        this.d.log.warn(
          { connectionId: conn.connectionId, userId: conn.userId },
          'registering connection still pending after 5 s',
        ),
      5000,
    );
    slow.unref();
    try {
      state = await this.d.hub.add(conn);
    } catch (err) {
      session.connectReplayEnded();
      this.d.log.error({ err, connectionId: conn.connectionId }, 'registering connection failed');
      this.d.metrics.errors.inc({ code: ErrorCode.Unavailable });
      conn.close(CloseCode.GoingAway, closeReason(CloseCode.GoingAway, 'presence or routing unavailable'));
      return;
    } finally {
      clearTimeout(slow);
    }
    session.state = state;
    if (conn.closed) {
      session.connectReplayEnded();
      await this.cleanup(session).catch(() => {});
      return;
    }
    const early = session.early ?? [];
    session.early = null;
    // The replay marks the state as syncing before its first await, so live deliveries from
    // here on are held back until it ends; requests that arrived early run right after.
    const slowReplay = setTimeout(
      () =>
        this.d.log.warn(
          { connectionId: conn.connectionId, userId: conn.userId },
          'replay still running after 10 s',
        ),
      10_000,
    );
    slowReplay.unref();
    this.d.chat.sync(state, from, null).then(
      (frame) => {
        clearTimeout(slowReplay);
        conn.sendFrame(frame);
        session.connectReplayEnded();
      },
      (err) => {
        clearTimeout(slowReplay);
        session.connectReplayEnded();
        this.d.log.error({ err, connectionId: conn.connectionId }, 'replay failed');
        this.fail(
          (f) => conn.sendFrame(f),
          new ChatError(ErrorCode.Unavailable, 'could not replay missed messages; send sync'),
          null,
        );
      },
    );
    for (const run of early) run();
  }

  /**
   * The per-connection rate limit. Returns true if the request may proceed; otherwise answers
   * `rate_limited` (echoing `requestId` when known), or closes a flooding connection with 4429.
   */
  admit(session: Session, respond: Respond, requestId: string | null): boolean {
    if (session.bucket.take()) {
      session.strikes = 0;
      return true;
    }
    session.strikes++;
    if (session.strikes > this.d.limits.floodStrikes) {
      this.d.metrics.errors.inc({ code: 'flood_close' });
      session.conn.close(CloseCode.RateLimited, closeReason(CloseCode.RateLimited));
      return false;
    }
    this.fail(respond, new ChatError(ErrorCode.RateLimited, 'slow down'), requestId);
    return false;
  }

  /**
   * Runs one request: `parse` validates it (throwing `ChatError`), the chat service handles it,
   * and the reply or error goes to `respond`. Requests that arrive before the connection is
   * registered wait, in order. `onEmpty` is called when a request has no reply (`ack`).
   */
  request(session: Session, parse: () => ParsedClientFrame, respond: Respond, onEmpty?: () => void): void {
    if (session.early) {
      session.early.push(() => this.request(session, parse, respond, onEmpty));
      return;
    }
    const state = session.state;
    if (!state || session.conn.closed) return;
    let frame: ParsedClientFrame;
    try {
      frame = parse();
    } catch (err) {
      const reqId =
        err instanceof ChatError && typeof err.details?.requestId === 'string' ? err.details.requestId : null;
      this.fail(respond, err, reqId);
      return;
    }
    const requestId = 'id' in frame ? frame.id : null;
    this.d.chat.handle(state, frame).then(
      (reply) => {
        if (reply) {
          respond(reply);
          this.d.metrics.framesOut.inc();
        } else onEmpty?.();
      },
      (err) => this.fail(respond, err, requestId),
    );
  }

  /** Answers with an error frame; anything but a `ChatError` is logged and sent as `internal`. */
  fail(respond: Respond, err: unknown, requestId: string | null): void {
    let frame: ServerFrame;
    if (err instanceof ChatError) {
      const details = err.details ? { ...err.details } : undefined;
      if (details) delete details.requestId;
      frame = {
        op: 'error',
        id: requestId,
        code: err.code,
        message: err.message,
        ...(details && Object.keys(details).length > 0 ? { details } : {}),
      };
    } else if (isTransientBackendError(err)) {
      // Overload or a brief outage of a backing service: retryable, and counted, not logged
      // one by one (under overload there are thousands).
      frame = {
        op: 'error',
        id: requestId,
        code: ErrorCode.Unavailable,
        message: 'a backing service is unavailable or overloaded; retry',
      };
    } else {
      this.d.log.error({ err }, 'internal error');
      frame = { op: 'error', id: requestId, code: ErrorCode.Internal, message: 'internal error' };
    }
    this.d.metrics.errors.inc({ code: frame.code });
    respond(frame);
    this.d.metrics.framesOut.inc();
  }

  /** The transport closed: unregister from the hub and presence, drop subscriptions. */
  closed(session: Session): void {
    if (!this.all.delete(session)) return;
    if (!session.state) return;
    this.cleanup(session).catch((err) => {
      this.d.metrics.backgroundFailures.inc({ stage: 'presence' });
      this.d.log.error({ err }, 'unregistering connection failed');
    });
  }

  private async cleanup(session: Session): Promise<void> {
    if (session.state) this.d.watchers.drop(session.state);
    await this.d.hub.remove(session.conn);
  }

  /** Closes every session whose token has expired (4401). */
  expire(now: number): void {
    for (const s of this.all) {
      if (s.state && !s.conn.closed && s.conn.expiresAt <= now) {
        s.conn.close(CloseCode.Unauthorized, closeReason(CloseCode.Unauthorized));
      }
    }
  }

  /**
   * Closes (4403) the sessions `end` covers: those of a revoked token, or a user's sessions
   * opened before an operator's disconnect. Returns how many.
   */
  end(end: SessionsEnd): number {
    let closed = 0;
    for (const s of this.all) {
      if (!s.conn.closed && endsSession(end, s.conn.userId, s.conn)) {
        s.conn.close(CloseCode.Revoked, closeReason(CloseCode.Revoked));
        closed++;
      }
    }
    return closed;
  }

  closeAll(code: number, reason: string): void {
    for (const s of [...this.all]) s.conn.close(code, reason);
  }

  /** Unregisters sessions whose transport has not reported its close yet (shutdown). */
  async forgetAll(): Promise<void> {
    const rest = [...this.all];
    this.all.clear();
    await Promise.allSettled(rest.map((s) => this.cleanup(s)));
  }
}
