/**
 * The raw WebSocket endpoint (`/ws`), attached to the gateway's uWS app: the upgrade (JWT and
 * connect parameters), one `WsConnection` and session per socket, incoming frames and close.
 */

import type { LimitsConfig } from '../config/schema.ts';
import { AuthError, ChatError, CloseCode, closeReason, ErrorCode } from '../errors.ts';
import { parseClientFrame, parseConnectParams, type ServerFrame, SUBPROTOCOL } from '../protocol/index.ts';
import type { Authenticator, Identity } from './auth.ts';
import { OVERSIZED_FRAME_READ_FACTOR } from './constants.ts';
import type { LocalTopics } from './local-topics.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { ReplayFrom } from './ops/replay.ts';
import type { Sessions } from './sessions.ts';
import {
  COMPRESSION_DISABLED,
  type HttpApp,
  type HttpRequest,
  type HttpResponse,
  type UpgradeContext,
  type WebSocket,
} from './transport/types.ts';
import { type SocketData, WsConnection } from './ws-connection.ts';

export interface WsEndpointDeps {
  sessions: Sessions;
  auth: Authenticator;
  metrics: GatewayMetrics;
  limits: LimitsConfig;
  /** Conversation topics the hub publishes live messages to; it also applies the buffer limit. */
  topics: LocalTopics;
  isStopping: () => boolean;
  /** The region cannot serve and others can (`Gateway.sendsAway`): close new connections 4503. */
  sendsAway: () => boolean;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Serves `/ws` on `app`. */
export function registerWsEndpoint(app: HttpApp, deps: WsEndpointDeps): void {
  const { sessions, auth, metrics, limits } = deps;

  const upgrade = (res: HttpResponse, req: HttpRequest, context: UpgradeContext): void => {
    const secKey = req.getHeader('sec-websocket-key');
    const offered = req.getHeader('sec-websocket-protocol');
    const secExt = req.getHeader('sec-websocket-extensions');
    const bearer = req.getHeader('authorization');
    const token = req.getQuery('token') || (bearer.startsWith('Bearer ') ? bearer.slice(7) : '');
    const rawParams = {
      device: req.getQuery('device'),
      resume: req.getQuery('resume'),
      since: req.getQuery('since'),
    };
    if (deps.isStopping()) {
      res.writeStatus('503 Service Unavailable').end('{"error":{"code":"shutting_down"}}');
      return;
    }
    const protocol = offered
      .split(',')
      .map((p) => p.trim())
      .includes(SUBPROTOCOL)
      ? SUBPROTOCOL
      : '';
    // Verified synchronously, and upgraded inside this handler: see `Authenticator` for why an
    // asynchronous upgrade (which needs `res.cork`) is avoided with this uWS build.
    let identity: Identity;
    try {
      identity = auth.verifySync(token);
    } catch (err) {
      const message = err instanceof AuthError ? err.message : 'authentication failed';
      metrics.errors.inc({ code: ErrorCode.Unauthorized });
      refuseUpgrade(res, '401 Unauthorized', ErrorCode.Unauthorized, message);
      return;
    }
    let device: string;
    let from: ReplayFrom;
    try {
      const params = parseConnectParams(rawParams);
      device = params.device;
      from = { position: params.resume, since: params.since };
    } catch (err) {
      const e = err as ChatError;
      metrics.errors.inc({ code: e.code });
      refuseUpgrade(res, '400 Bad Request', e.code, e.message, e.details);
      return;
    }
    res.upgrade<SocketData>(
      { upgrade: { identity, device, from }, conn: null, session: null },
      secKey,
      protocol,
      secExt,
      context,
    );
  };

  const onOpen = (ws: WebSocket<SocketData>): void => {
    if (deps.sendsAway()) {
      // After the upgrade rather than an HTTP 503 before it: browsers do not tell a page why a
      // handshake failed, but every client sees a close code.
      metrics.regionUnavailableCloses.inc();
      ws.end(CloseCode.RegionUnavailable, closeReason(CloseCode.RegionUnavailable));
      return;
    }
    const data = ws.getUserData();
    const upgraded = data.upgrade;
    if (!upgraded) return;
    data.upgrade = null;
    const conn = new WsConnection(ws, upgraded, deps.topics);
    data.conn = conn;
    data.session = sessions.open(conn, upgraded.from);
  };

  const onMessage = (ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void => {
    const { conn, session } = ws.getUserData();
    if (!conn || !session || conn.closed) return;
    metrics.framesIn.inc();
    const respond = (frame: ServerFrame) => conn.sendFrame(frame);
    if (message.byteLength > limits.maxFrameBytes) {
      sessions.fail(
        respond,
        new ChatError(ErrorCode.FrameTooLarge, `frame exceeds ${limits.maxFrameBytes} bytes`),
        null,
      );
      conn.close(CloseCode.FrameTooLarge, closeReason(CloseCode.FrameTooLarge));
      return;
    }
    if (!sessions.admit(session, respond, requestIdOf(message))) return;
    let text: string;
    try {
      if (isBinary) throw new Error('binary');
      text = textDecoder.decode(message);
    } catch {
      sessions.fail(respond, new ChatError(ErrorCode.BadFrame, 'frames must be UTF-8 JSON text'), null);
      return;
    }
    sessions.request(
      session,
      () =>
        parseClientFrame(text, {
          maxBodyChars: limits.maxBodyChars,
          maxGroupMembers: limits.maxGroupMembers,
          maxHistoryLimit: limits.maxHistoryLimit,
        }),
      respond,
    );
  };

  const onClose = (ws: WebSocket<SocketData>): void => {
    const { conn, session } = ws.getUserData();
    if (!conn) return;
    conn.markClosed();
    if (session) sessions.closed(session);
  };

  app.ws<SocketData>('/ws', {
    compression: COMPRESSION_DISABLED,
    // Oversized frames up to this reach us so we can answer frame_too_large and close 4413;
    // anything larger is cut by uWS itself, without a close frame (see the constant).
    maxPayloadLength: limits.maxFrameBytes * OVERSIZED_FRAME_READ_FACTOR,
    idleTimeout: limits.idleTimeoutSec,
    // No uWS limit: past it uWS drops topic frames without telling anyone. The configured limit
    // (limits.maxBackpressureBytes) is applied by WsConnection and LocalTopics, closing 4509.
    maxBackpressure: 0,
    sendPingsAutomatically: true,
    upgrade,
    open: onOpen,
    message: onMessage,
    drain: (ws) => ws.getUserData().conn?.onDrain(),
    close: onClose,
  });
}

/** Answers an upgrade with an HTTP error and the protocol's JSON error body. */
function refuseUpgrade(
  res: HttpResponse,
  status: string,
  code: ErrorCode,
  message: string,
  details?: Readonly<Record<string, string | number>>,
): void {
  res
    .writeStatus(status)
    .writeHeader('content-type', 'application/json')
    .end(JSON.stringify({ error: { code, message, ...(details ? { details } : {}) } }));
}

/** Best-effort request id of a frame we refuse to parse fully (rate limited). */
function requestIdOf(message: ArrayBuffer): string | null {
  if (message.byteLength > 4096) return null;
  const m = /"id"\s*:\s*"([^"]{1,64})"/.exec(Buffer.from(message).toString('utf8'));
  return m?.[1] ?? null;
}
