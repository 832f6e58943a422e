/**
 * Every error a client or operator can see, in one place. The protocol's part (error codes with
 * their retry advice, close codes with their reasons, `ChatError`) lives in src/protocol, shared
 * with the SDK, and is re-exported here; the server-only errors are below. Tests assert on class
 * and code, never on message text.
 */
export {
  ChatError,
  CLOSE_REASONS,
  CloseCode,
  closeReason,
  ERRORS,
  ErrorCode,
  isRetryable,
} from './protocol/index.ts';

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

/** A backing service the gateway starts on. */
export type ServiceName = 'cassandra' | 'redis' | 'nats';

/**
 * A backing service refused the gateway at startup — wrong credentials, a certificate it does not
 * trust or we do not, or it could not be reached. Names the service, which part of the gateway was
 * connecting and where (never the credentials), and carries the driver's error as `cause`.
 */
export class ServiceStartError extends Error {
  override readonly name = 'ServiceStartError';
  constructor(
    readonly service: ServiceName,
    /** The part of the gateway that was connecting (`presence`, `routing`, `storage`, …). */
    readonly component: string,
    /** Where it connected (host:port, urls), without credentials. */
    readonly target: string,
    cause: unknown,
  ) {
    super(`${service} refused ${component} at ${target}: ${reasonOf(cause)}`, { cause });
  }
}

/** The driver's own words, one line: cassandra-driver nests the real reason per host. */
function reasonOf(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = (cause as Error & { innerErrors?: Record<string, unknown> }).innerErrors;
  const hostReasons = inner
    ? Object.entries(inner).map(([host, e]) => `${host}: ${e instanceof Error ? e.message : String(e)}`)
    : [];
  const text = hostReasons.length > 0 ? hostReasons.join('; ') : cause.message;
  return text.replace(/\s+/g, ' ').trim();
}
