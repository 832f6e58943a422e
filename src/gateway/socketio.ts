/**
 * The Socket.IO endpoint (`/socket.io/`), attached to the gateway's transport (`io.attachApp`
 * on uWS, `io.attach` on `node:http`). A second transport beside `/ws`: same JWT auth, same operations and error
 * codes, same `ChatService` and `Hub`, so delivery, replay, offline queueing and ordering are
 * shared. Mapping (docs/protocol.md, "Socket.IO"):
 *
 * - a request is an event named after its `op`, with the frame's other fields as payload; the
 *   reply frame goes to the event's ack callback (or, without one, is emitted as an event);
 * - every server frame is emitted as an event named after its `op`, with the frame as payload;
 * - the server ends a session with a `close` event `{op, code, reason}`, then disconnects.
 *
 * With Redis in the region the `@socket.io/redis-adapter` is installed, so `io` broadcasts and
 * `fetchSockets()` span the region's gateways. Chat traffic does not use io rooms: it goes
 * through the hub and the router like raw WebSocket traffic.
 */

import { randomUUID } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Redis } from 'ioredis';
import { type DefaultEventsMap, type ExtendedError, Server, type Socket } from 'socket.io';
import type { LimitsConfig } from '../config/schema.ts';
import { AuthError, ChatError, CloseCode, closeReason, ErrorCode } from '../errors.ts';
import {
  type ConnectParams,
  parseClientRequest,
  parseConnectParams,
  type ServerFrame,
} from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';
import { connectRedis, createRedis, type RedisConnection } from '../services/redis.ts';
import { CLOSE_GRACE_MS, quitRedis } from '../util/close.ts';
import { delay, settleWithin } from '../util/deadline.ts';
import type { Logger } from '../util/log.ts';
import type { Authenticator, Identity } from './auth.ts';
import { DRAIN_LOW_WATER_BYTES, DRAIN_POLL_MS, OVERSIZED_FRAME_READ_FACTOR } from './constants.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { ReplayFrom } from './ops/replay.ts';
import type { Respond, Session, Sessions, TransportConnection } from './sessions.ts';
import type { Transport } from './transport/types.ts';

/** What the auth middleware learned from the handshake. */
interface IoData {
  identity: Identity;
  device: string;
  /** Where the first replay starts (handshake `resume`, legacy `since`). */
  from: ReplayFrom;
}

type IoServer = Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, IoData>;
type IoSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, IoData>;

export interface SocketIoDeps {
  sessions: Sessions;
  auth: Authenticator;
  metrics: GatewayMetrics;
  limits: LimitsConfig;
  /** The region's Redis, for the adapter; null = a single-gateway adapter (in-memory). */
  redis: RedisConnection | null;
  /** Prefix of the adapter's Redis channels. */
  adapterKey: string;
  isStopping: () => boolean;
  /** The region cannot serve and others can (`Gateway.sendsAway`): refuse new connections. */
  sendsAway: () => boolean;
  log: Logger;
}

/**
 * The object form of each routed frame, shared by its Socket.IO recipients (the hub hands one
 * `Routed` to every connection of a fan-out). Weak: it goes when the `Routed` does.
 */
const parsedFrames = new WeakMap<Routed, ServerFrame>();

/** Adapts a Socket.IO socket to `TransportConnection`. */
class IoConnection implements TransportConnection {
  closed = false;
  readonly connectionId = randomUUID();
  readonly userId: string;
  readonly device: string;
  readonly expiresAt: number;
  readonly identity: Identity;
  readonly openedAt = Date.now();
  private seq = 0;

  constructor(
    private readonly socket: IoSocket,
    data: IoData,
    private readonly maxBackpressure: number,
  ) {
    this.userId = data.identity.userId;
    this.device = data.device;
    this.expiresAt = data.identity.expiresAt;
    this.identity = data.identity;
  }

  /** Presence events are serialized frames; Socket.IO wants the event name and object. */
  sendRaw(payload: string): void {
    if (this.closed) return;
    this.sendFrame(JSON.parse(payload) as ServerFrame);
  }

  /** A fanned-out frame is parsed once, by its first Socket.IO recipient, for all of them. */
  sendRouted(routed: Routed): void {
    if (this.closed) return;
    let frame = parsedFrames.get(routed);
    if (frame === undefined) {
      frame = JSON.parse(routed.frame) as ServerFrame;
      parsedFrames.set(routed, frame);
    }
    this.sendFrame(frame);
  }

  sendFrame(frame: ServerFrame): void {
    if (this.closed) return;
    // uWS drops (rather than queues) a send past its maxBackpressure, and engine.io ignores the
    // result; so we close first, well below uWS's limit, and the client resumes from its last id.
    if (this.bufferedAmount() > this.maxBackpressure) {
      this.close(CloseCode.SlowConsumer, closeReason(CloseCode.SlowConsumer));
      return;
    }
    this.socket.emit(frame.op, frame);
  }

  /**
   * Bytes waiting in the server for a WebSocket transport. engine.io keeps the uWS socket (or,
   * on `node:http`, the `ws` socket) as its transport's `socket` and does not track
   * backpressure itself. Long-polling transports report
   * 0: their buffer is engine.io's, emptied by the next poll, bounded by the ping timeout.
   */
  bufferedAmount(): number {
    if (this.closed) return 0;
    const transport = this.socket.conn.transport as unknown as {
      name: string;
      socket?: { getBufferedAmount?(): number; bufferedAmount?: number };
    };
    if (transport.name !== 'websocket' || !transport.socket) return 0;
    try {
      const socket = transport.socket;
      return socket.getBufferedAmount ? socket.getBufferedAmount() : (socket.bufferedAmount ?? 0);
    } catch {
      return 0; // the uWS socket closed under us; the disconnect event follows
    }
  }

  /** uWS's drain event belongs to engine.io here, so poll. */
  async waitForDrain(): Promise<void> {
    while (!this.closed && this.bufferedAmount() > DRAIN_LOW_WATER_BYTES) {
      await delay(DRAIN_POLL_MS);
    }
  }

  /** Socket.IO has no close codes: send them in a `close` event, then disconnect. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.socket.emit('close', { op: 'close', code, reason } satisfies ServerFrame);
    this.socket.disconnect(true);
  }

  markClosed(): void {
    this.closed = true;
  }

  /** A request id for a request that came without one (its ack does the correlating). */
  nextRequestId(): string {
    return `io-${++this.seq}`;
  }
}

export class SocketIoEndpoint {
  readonly io: IoServer;
  private pub: Redis | null = null;
  private sub: Redis | null = null;

  constructor(
    transport: Transport,
    private readonly d: SocketIoDeps,
  ) {
    const limits = d.limits;
    this.io = new Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, IoData>({
      serveClient: false,
      // Oversized packets up to this reach us, so we can answer frame_too_large before closing
      // (as on /ws); engine.io cuts anything larger itself.
      maxHttpBufferSize: limits.maxFrameBytes * OVERSIZED_FRAME_READ_FACTOR,
    });
    transport.attachSocketIo(this.io, {
      idleTimeoutSec: limits.idleTimeoutSec,
      // Twice ours, so that our check in sendFrame closes a slow consumer before uWS drops.
      maxBackpressureBytes: limits.maxBackpressureBytes * 2,
    });
    this.io.use((socket, next) => this.authenticate(socket, next));
    this.io.on('connection', (socket) => this.onConnection(socket));
  }

  /** Connects the Redis adapter, when the region has Redis. Call before listening. */
  async start(): Promise<void> {
    const redis = this.d.redis;
    if (!redis) return;
    const onError = (err: Error) => {
      this.d.metrics.backgroundFailures.inc({ stage: 'socketio-adapter' });
      this.d.log.error({ err }, 'socket.io redis adapter');
    };
    const pub = createRedis(redis, { lazyConnect: true });
    const sub = createRedis(redis, { lazyConnect: true });
    pub.on('error', onError);
    sub.on('error', onError);
    this.pub = pub;
    this.sub = sub;
    await Promise.all([
      connectRedis(pub, redis, 'socket.io adapter'),
      connectRedis(sub, redis, 'socket.io adapter'),
    ]);
    this.io.adapter(createAdapter(pub, sub, { key: this.d.adapterKey }));
  }

  async close(): Promise<void> {
    // The Redis adapter unsubscribes as the server closes; with Redis down that would wait on
    // reconnects, so it gets the grace and then its clients are dropped.
    await settleWithin(this.io.close(), CLOSE_GRACE_MS, undefined);
    const clients = [this.pub, this.sub].filter((c) => c !== null);
    this.pub = null;
    this.sub = null;
    await Promise.all(clients.map((c) => quitRedis(c)));
  }

  /**
   * Handshake auth: `auth.token` (or query `token`), `auth.device`, `auth.resume` (a resume
   * position; malformed → refused `invalid_field`), legacy `auth.since`. A refusal
   * reaches the client as `connect_error` with `data: {code, message}`.
   */
  private authenticate(socket: IoSocket, next: (err?: ExtendedError) => void): void {
    const field = (name: string): string | undefined => {
      const fromAuth = (socket.handshake.auth as Record<string, unknown>)[name];
      if (typeof fromAuth === 'string') return fromAuth;
      const fromQuery = socket.handshake.query[name];
      return typeof fromQuery === 'string' ? fromQuery : undefined;
    };
    if (this.d.isStopping()) {
      next(refusal(ErrorCode.ShuttingDown, 'gateway is shutting down; connect to another'));
      return;
    }
    if (this.d.sendsAway()) {
      next(refusal(ErrorCode.Unavailable, 'region unavailable; connect to another region'));
      return;
    }
    const bearer = socket.handshake.headers.authorization;
    const token = field('token') ?? (bearer?.startsWith('Bearer ') ? bearer.slice(7) : null);
    this.d.auth.verify(token).then(
      (identity) => {
        let params: ConnectParams;
        try {
          params = parseConnectParams({
            device: field('device'),
            resume: field('resume'),
            since: field('since'),
          });
        } catch (err) {
          const e = err as ChatError;
          this.d.metrics.errors.inc({ code: e.code });
          next(refusal(e.code, e.message, e.details));
          return;
        }
        socket.data = {
          identity,
          device: params.device,
          from: { position: params.resume, since: params.since },
        };
        next();
      },
      (err: unknown) => {
        this.d.metrics.errors.inc({ code: ErrorCode.Unauthorized });
        next(
          refusal(ErrorCode.Unauthorized, err instanceof AuthError ? err.message : 'authentication failed'),
        );
      },
    );
  }

  private onConnection(socket: IoSocket): void {
    const limits = this.d.limits;
    const sessions = this.d.sessions;
    const conn = new IoConnection(socket, socket.data, limits.maxBackpressureBytes);
    const session = sessions.open(conn, socket.data.from);
    socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
      if (packet.type !== 'message' || conn.closed) return;
      const size =
        typeof packet.data === 'string'
          ? Buffer.byteLength(packet.data)
          : packet.data instanceof Uint8Array
            ? packet.data.byteLength
            : 0;
      if (size <= limits.maxFrameBytes) return;
      sessions.fail(
        (f) => conn.sendFrame(f),
        new ChatError(ErrorCode.FrameTooLarge, `packet exceeds ${limits.maxFrameBytes} bytes`),
        null,
      );
      conn.close(CloseCode.FrameTooLarge, closeReason(CloseCode.FrameTooLarge));
    });
    socket.onAny((event: string, ...args: unknown[]) => this.onEvent(conn, session, event, args));
    socket.on('disconnect', () => {
      conn.markClosed();
      sessions.closed(session);
    });
  }

  private onEvent(conn: IoConnection, session: Session, event: string, args: unknown[]): void {
    if (conn.closed) return;
    this.d.metrics.framesIn.inc();
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (reply?: ServerFrame) => void) : null;
    const body = args.length > (ack ? 1 : 0) ? args[0] : undefined;
    const respond: Respond = ack ? (frame) => ack(frame) : (frame) => conn.sendFrame(frame);
    const requestId = isObject(body) && typeof body.id === 'string' ? body.id.slice(0, 64) : null;
    if (!this.d.sessions.admit(session, respond, requestId)) return;
    const limits = this.d.limits;
    this.d.sessions.request(
      session,
      () => {
        if (body !== undefined && !isObject(body)) {
          throw new ChatError(ErrorCode.BadFrame, 'an event payload must be an object');
        }
        const request: Record<string, unknown> = { ...body, op: event };
        // Over Socket.IO the ack correlates; an id is filled in so the reply still carries one.
        // `typing` without an ack stays fire-and-forget, like on /ws.
        if (request.id === undefined && event !== 'ack' && (event !== 'typing' || ack)) {
          request.id = conn.nextRequestId();
        }
        return parseClientRequest(request, {
          maxBodyChars: limits.maxBodyChars,
          maxGroupMembers: limits.maxGroupMembers,
          maxHistoryLimit: limits.maxHistoryLimit,
        });
      },
      respond,
      // Requests with no reply frame (`ack`) still complete their ack callback.
      ack ? () => ack() : undefined,
    );
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A handshake refusal; the client's `connect_error` carries `data` (`/ws`'s HTTP error body). */
function refusal(
  code: ErrorCode,
  message: string,
  details?: Readonly<Record<string, string | number>>,
): ExtendedError {
  const err = new Error(message) as ExtendedError;
  err.data = { code, message, ...(details ? { details } : {}) };
  return err;
}
