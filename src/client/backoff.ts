/** Reconnect delays: exponential growth, capped, with jitter so clients do not reconnect in lockstep. */

export interface BackoffOptions {
  /** Delay cap for the first retry (ms). */
  initialMs: number;
  /** Largest delay (ms). */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /**
   * Share of the delay that is random, 0..1. 1 is "full jitter" (uniform in [0, cap]), which
   * spreads a thundering herd best; 0 is deterministic.
   */
  jitter: number;
}

/**
 * Half a second first: a gateway restart or deploy usually comes back within a second or two, and
 * with full jitter the average first retry is 250 ms. 30 s at most so an outage does not leave
 * clients away for minutes after it ends.
 */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 1 };

/**
 * Resends while the socket is up: the gateway is there and said "retry" (a store or NATS blip, an
 * overload shed), so waiting tens of seconds only delays the first ack after the fault heals.
 * Capped at 2 s; half jitter keeps resends of many clients apart without resending at once.
 */
export const DEFAULT_RESEND_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 2000, factor: 2, jitter: 0.5 };

/** The cap for retry number `attempt` (0-based): `min(maxMs, initialMs * factor^attempt)`. */
export function backoffCap(attempt: number, opts: BackoffOptions): number {
  const exp = opts.initialMs * opts.factor ** Math.max(0, attempt);
  return Math.min(opts.maxMs, Number.isFinite(exp) ? exp : opts.maxMs);
}

/** The delay before retry number `attempt`; `random` returns a number in [0, 1). */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const cap = backoffCap(attempt, opts);
  const jitter = Math.min(1, Math.max(0, opts.jitter));
  return Math.round(cap * (1 - jitter * random()));
}

export function validateBackoff(opts: BackoffOptions): BackoffOptions {
  const bad = (field: string, why: string) => new RangeError(`backoff.${field}: ${why}`);
  if (!(opts.initialMs >= 0)) throw bad('initialMs', 'must be ≥ 0');
  if (!(opts.maxMs >= opts.initialMs)) throw bad('maxMs', 'must be ≥ initialMs');
  if (!(opts.factor >= 1)) throw bad('factor', 'must be ≥ 1');
  if (!(opts.jitter >= 0 && opts.jitter <= 1)) throw bad('jitter', 'must be in 0..1');
  return opts;
}
