/** Three missed heartbeats at the gateway's default 10 s interval. */
export const DEFAULT_PRESENCE_TTL_MS = 30_000;
/**
 * Expired gateways are swept `ttlMs / DEFAULT_SWEEP_FRACTION` apart, so a crashed gateway's users
 * are announced offline at most a fifth of a TTL after their connections expired.
 */
export const DEFAULT_SWEEP_FRACTION = 5;
