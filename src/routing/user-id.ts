/** User ids that routing accepts: safe as one NATS subject token and as a map key. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A user id that cannot be routed (empty, too long, or with characters outside [A-Za-z0-9_-]). */
export class InvalidUserIdError extends RangeError {
  override readonly name = 'InvalidUserIdError';
  readonly code = 'invalid_user_id';
  constructor(readonly userId: string) {
    super(`invalid user id ${JSON.stringify(userId.slice(0, 80))}: must match ${USER_ID_PATTERN}`);
  }
}

/** Throws `InvalidUserIdError` unless `userId` matches `USER_ID_PATTERN`. */
export function assertUserId(userId: string): void {
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
    throw new InvalidUserIdError(String(userId));
  }
}

/** Gateway ids are one subject token too (`chat.<region>.g.<gatewayId>`). */
export const GATEWAY_ID_PATTERN = USER_ID_PATTERN;

/** Throws a `RangeError` unless `gatewayId` matches `GATEWAY_ID_PATTERN`. */
export function assertGatewayId(gatewayId: string): void {
  if (typeof gatewayId !== 'string' || !GATEWAY_ID_PATTERN.test(gatewayId)) {
    throw new RangeError(`invalid gateway id ${JSON.stringify(String(gatewayId).slice(0, 80))}`);
  }
}
