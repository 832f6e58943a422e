/** Three missed heartbeats at the gateway's default 10 s interval. */
export const DEFAULT_PRESENCE_TTL_MS = 30_000;
/**
 * Expired gateways are swept `ttlMs / DEFAULT_SWEEP_FRACTION` apart, so a crashed gateway's users
 * are announced offline at most a fifth of a TTL after their connections expired.
 */
export const DEFAULT_SWEEP_FRACTION = 5;

/**
 * Splits a bound on how long a crashed gateway's users may still show online (`boundMs`, the
 * config's `presence.ttlMs`) into the liveness TTL of a gateway's connections and the sweep
 * interval: the TTL expires one sweep interval before the bound, so the sweep that announces the
 * users offline runs within it. The TTL stays above `heartbeatMs` (by at least half the gap) so
 * a live gateway never lapses between heartbeats.
 */
export function presenceTiming(
  boundMs: number,
  heartbeatMs: number,
): { ttlMs: number; sweepIntervalMs: number } {
  const sweepIntervalMs = Math.max(
    1,
    Math.min(Math.floor(boundMs / 10), Math.floor((boundMs - heartbeatMs) / 2)),
  );
  return { ttlMs: boundMs - sweepIntervalMs, sweepIntervalMs };
}
