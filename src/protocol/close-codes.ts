/**
 * WebSocket close codes of the protocol, with the reason text the gateway sends beside each
 * (docs/protocol.md, "Close codes"). 1xxx are RFC 6455's; 44xx/45xx are ours, after HTTP status
 * codes. Socket.IO has no close frames: the gateway sends the same code and reason in a `close`
 * event just before it disconnects.
 */

export const CloseCode = {
  /** Server going away (shutdown, deploy): reconnect, with backoff, to any gateway. */
  GoingAway: 1001,
  /** Token expired or revoked during the session: get a new token before reconnecting. */
  Unauthorized: 4401,
  /**
   * The session was ended by the deployment: its token was revoked, or an operator disconnected
   * the user through the server API. Like 4401, get a new token before reconnecting (the app's
   * backend decides whether the user gets one).
   */
  Revoked: 4403,
  /**
   * Frame over `limits.maxFrameBytes` (after a `frame_too_large` error). One over 16× the limit
   * is cut without a close frame instead (the client sees 1006): docs/protocol.md, "Limits".
   */
  FrameTooLarge: 4413,
  /** Flooding: kept sending past the rate limit. Reconnect after a pause. */
  RateLimited: 4429,
  /**
   * This region cannot serve (its store or NATS unreachable for `limits.unhealthyAfterMs`) and
   * others exist: reconnect at once to a gateway of another region, with `since`. Sent to every
   * open connection when the gateway stops being ready, and right after the upgrade to new ones
   * until it recovers. A gateway that is its deployment's only region keeps its clients instead.
   */
  RegionUnavailable: 4503,
  /** The client read too slowly and the server's send buffer filled; reconnect and resume. */
  SlowConsumer: 4509,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The reason text sent with each code; clients switch on the code, people read the reason. */
export const CLOSE_REASONS: { readonly [C in CloseCode]: string } = {
  [CloseCode.GoingAway]: 'going away, reconnect',
  [CloseCode.Unauthorized]: 'token expired',
  [CloseCode.Revoked]: 'session revoked, get a new token',
  [CloseCode.FrameTooLarge]: 'frame too large',
  [CloseCode.RateLimited]: 'rate limit exceeded',
  [CloseCode.RegionUnavailable]: 'region unavailable, reconnect to another region',
  [CloseCode.SlowConsumer]: 'slow consumer, reconnect and resume',
};

/**
 * The reason to send with `code`; `cause` names what happened when the code alone does not
 * (a 1001 because a backing service failed rather than a shutdown). Close reasons are limited to
 * 123 bytes by RFC 6455; these stay far below.
 */
export function closeReason(code: CloseCode, cause?: string): string {
  return cause ? `${cause}; ${CLOSE_REASONS[code]}` : CLOSE_REASONS[code];
}
