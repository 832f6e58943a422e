/**
 * Every error a client or operator can see, in one place. Codes are part of the protocol
 * (docs/protocol.md): stable strings that clients switch on. Tests assert on class and code,
 * never on message text.
 */

export const ErrorCode = {
  /** Frame is not a JSON object, or not text. */
  BadFrame: 'bad_frame',
  /** `op` is not one this protocol version knows. */
  UnknownOp: 'unknown_op',
  /** A field is missing or has the wrong type or range; `details.field` names it. */
  InvalidField: 'invalid_field',
  /** Frame larger than `limits.maxFrameBytes`; the connection is then closed 4413. */
  FrameTooLarge: 'frame_too_large',
  /** Per-connection rate limit exceeded; the frame was dropped, not processed. */
  RateLimited: 'rate_limited',
  /** The conversation (or user) does not exist. */
  NotFound: 'not_found',
  /** The user may not do this (not a member, not the group's creator). */
  Forbidden: 'forbidden',
  /** A backing store could not be reached; safe to retry with the same clientMsgId. */
  Unavailable: 'unavailable',
  /** The server is shutting down; reconnect (to any gateway) and retry. */
  ShuttingDown: 'shutting_down',
  /** Unexpected server fault; safe to retry with the same clientMsgId. */
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the gateway uses. 1xxx from RFC 6455; 44xx/45xx are ours. */
export const CloseCode = {
  /** Server going away (shutdown, deploy): reconnect, with backoff, to any gateway. */
  GoingAway: 1001,
  /** Token expired or revoked during the session: get a new token before reconnecting. */
  Unauthorized: 4401,
  /** Frame over `limits.maxFrameBytes`. */
  FrameTooLarge: 4413,
  /** Flooding: kept sending past the rate limit. Reconnect after a pause. */
  RateLimited: 4429,
  /** The client read too slowly and the server's send buffer filled; reconnect and resume. */
  SlowConsumer: 4509,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** An error with a protocol code, sent to the client as an `error` frame. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, string | number>>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Invalid configuration; `path` names the offending field (e.g. `regions.0.gateway.port`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** An operation given a deadline (`withDeadline` in src/util/deadline.ts) did not finish in time. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  constructor(
    message: string,
    readonly timeoutMs: number,
  ) {
    super(message);
  }
}

/** Cassandra response codes that mean "overloaded or briefly short of replicas", not a bad request. */
const CASSANDRA_TRANSIENT_CODES = new Set([
  0x1000, // unavailable
  0x1001, // overloaded
  0x1002, // is bootstrapping
  0x1100, // write timeout
  0x1200, // read timeout
  0x1300, // read failure
  0x1500, // write failure
]);

/**
 * True for a backing service's transient failure — overload, timeout, no reachable host, a
 * connection closed under us — as opposed to a fault in our code. Recognised by the drivers'
 * error names (cassandra-driver, ioredis), so the gateway need not import the drivers. The client
 * gets `unavailable` (retry with the same clientMsgId) instead of `internal`.
 */
export function isTransientBackendError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  switch (err.name) {
    case 'NoHostAvailableError':
    case 'OperationTimedOutError':
    case 'BusyConnectionError':
    case 'MaxRetriesPerRequestError':
      return true;
    case 'ResponseError': {
      const code = (err as Error & { code?: unknown }).code;
      return typeof code === 'number' && CASSANDRA_TRANSIENT_CODES.has(code);
    }
    default:
      return err.message === 'Connection is closed.';
  }
}

/** Token missing, malformed, badly signed or expired. Refused at upgrade with HTTP 401. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}
