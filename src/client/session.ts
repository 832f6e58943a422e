/**
 * One socket session, from opening the socket to its end: the socket URL with the credentials
 * and where to resume from, the listeners that hand its events on, writing frames on it within
 * the server's frame limit, and closing it. Which session is current, and what a socket event
 * means for the connection, is `ChatConnection`'s business.
 */
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { Liveness, type LivenessOptions } from './liveness.ts';
import {
  CloseCode,
  isUnauthorizedHandshake,
  OPEN,
  type WebSocketConstructor,
  type WebSocketLike,
} from './socket.ts';
import { type ClientFrame, SUBPROTOCOL, type WelcomeFrame } from './types.ts';

type Timer = ReturnType<typeof setTimeout>;

/** One socket from creation to close. Events from an ended session are ignored. */
export interface Session {
  readonly ws: WebSocketLike;
  readonly url: string;
  welcome: WelcomeFrame | null;
  /** The replay that follows `welcome` has not ended yet. */
  replaying: boolean;
  /** The connect replay ended: the session is healthy, backoff resets. */
  synced: boolean;
  /** The handshake failed with HTTP 401 (only visible where the WebSocket class reports it). */
  unauthorized: boolean;
  ended: boolean;
  timers: Timer[];
  /** Pings and the frozen-gateway check, from `welcome` on. */
  liveness: Liveness | null;
}

/** What goes in the socket URL's query (docs/protocol.md, "Connecting"). */
export interface SessionQuery {
  token: string;
  device: string | undefined;
  /** The resume position, if the client has one. */
  resume: string | null;
  /** The legacy resume form: the newest message id delivered. */
  since: string | null;
}

/** What happens to a session's socket, handed to its owner. */
export interface SessionEvents {
  /** A frame arrived (not after the session ended). */
  data: (data: unknown) => void;
  close: (code: number, reason: string) => void;
  /** No `welcome` within the timeout given to `watchSession`. */
  noWelcome: () => void;
}

/** Opens the socket; throws if the URL or the WebSocket class refuses. */
export function openSession(WS: WebSocketConstructor, url: string, query: SessionQuery): Session {
  const target = new URL(url);
  target.searchParams.set('token', query.token);
  if (query.device) target.searchParams.set('device', query.device);
  if (query.resume !== null) target.searchParams.set('resume', query.resume);
  if (query.since !== null) target.searchParams.set('since', query.since);
  const ws = new WS(target.toString(), SUBPROTOCOL);
  return {
    ws,
    url,
    welcome: null,
    replaying: false,
    synced: false,
    unauthorized: false,
    ended: false,
    timers: [],
    liveness: null,
  };
}

/**
 * Hands the session's events to its owner: its frames until it ends, its close, and no `welcome`
 * within `welcomeTimeoutMs`.
 */
export function watchSession(session: Session, welcomeTimeoutMs: number, on: SessionEvents): void {
  const { ws } = session;
  // A gateway that accepts TCP but never answers would otherwise hold us forever.
  session.timers.push(setTimeout(on.noWelcome, welcomeTimeoutMs));
  ws.addEventListener('message', (event) => {
    if (session.ended) return;
    session.liveness?.heard();
    on.data(event.data);
  });
  ws.addEventListener('error', (event) => {
    if (isUnauthorizedHandshake(event)) session.unauthorized = true;
  });
  ws.addEventListener('close', (event) => on.close(event.code, event.reason));
}

/**
 * The session's `welcome` came: the connect timeout stops, the replay that follows begins, and
 * liveness checks start (none without `liveness`, pings switched off). False if it had one.
 */
export function welcomeSession(
  session: Session,
  welcome: WelcomeFrame,
  liveness: LivenessOptions | null,
): boolean {
  if (session.welcome) return false;
  for (const t of session.timers) clearTimeout(t);
  session.timers = [];
  session.welcome = welcome;
  session.replaying = true;
  if (liveness) {
    session.liveness = new Liveness(liveness);
    session.liveness.start();
  }
  return true;
}

/** Ends the session: its timers stop and its socket closes. False if it had ended already. */
export function endSession(session: Session, reason: string): boolean {
  if (session.ended) return false;
  session.ended = true;
  for (const t of session.timers) clearTimeout(t);
  session.liveness?.stop();
  if (session.ws.readyState <= OPEN) {
    try {
      session.ws.close(CloseCode.Normal, reason.slice(0, 100));
    } catch {
      // Already failing; the close event is what we are handling.
    }
  }
  return true;
}

const textEncoder = new TextEncoder();

/** Writes a frame; returns an error instead if it cannot go out. */
export function writeFrame(
  session: Session,
  frame: ClientFrame,
  maxFrameBytes: number | undefined,
): ChatClientError | null {
  const text = JSON.stringify(frame);
  const max = maxFrameBytes;
  // Over the limit the server closes the socket (4413), and a resend would do it again.
  if (max !== undefined && text.length * 3 > max && textEncoder.encode(text).length > max) {
    return new ChatClientError('frame_too_large', `${frame.op}: frame exceeds ${max} bytes`);
  }
  if (session.ended || session.ws.readyState !== OPEN) {
    return new ChatClientError(LocalErrorCode.Disconnected, `${frame.op}: not connected`);
  }
  try {
    session.ws.send(text);
  } catch (cause) {
    return new ChatClientError(LocalErrorCode.Disconnected, `${frame.op}: send failed`, undefined, {
      cause,
    });
  }
  // A frame with an id gets a reply; `ack` (and `typing` without an id) do not.
  if ('id' in frame && typeof frame.id === 'string') session.liveness?.wrote();
  return null;
}
