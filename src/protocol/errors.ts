/**
 * Every error code a client can see, with what it should do about it. Codes are part of the
 * protocol (docs/protocol.md, "Errors"): stable strings that clients switch on; the retry advice
 * is what the SDK follows when it resends. Tests assert on class and code, never on message text.
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
  /**
   * The conversation does not exist, or the user is not a member: the two are not told apart,
   * so nobody learns of conversations they are not in.
   */
  NotFound: 'not_found',
  /**
   * A member may not do this: removing or banning others without being an admin or the owner,
   * removing the owner, giving roles without being the owner, changing a DM's members, deleting
   * another's message without being an admin.
   */
  Forbidden: 'forbidden',
  /** `edit`: the message is older than the edit window (`limits.editWindowMs`, in `welcome`). */
  EditWindowPassed: 'edit_window_passed',
  /** `edit` or `delete` of a message that was deleted: a delete is final. */
  MessageDeleted: 'message_deleted',
  /** `react` with an emoji the message does not have yet, when it has `limits.maxReactionsPerMessage` distinct ones. */
  TooManyReactions: 'too_many_reactions',
  /**
   * The other user of a direct conversation blocks this one: `send` there, or `openDirect` of a
   * conversation not yet created, is refused until they unblock (docs/protocol.md, "Moderation").
   */
  Blocked: 'blocked',
  /** `addMembers` of a user banned from the group (`details.userId`): `unban` them first. */
  Banned: 'banned',
  /** A backing store could not be reached; safe to retry with the same clientMsgId. */
  Unavailable: 'unavailable',
  /** The server is shutting down; reconnect (to any gateway) and retry. */
  ShuttingDown: 'shutting_down',
  /** Unexpected server fault; safe to retry with the same clientMsgId. */
  Internal: 'internal',
  /**
   * Token missing, malformed, badly signed or expired. Never in an `error` frame: it refuses a
   * handshake (HTTP 401 body on `/ws` and the dashboard, Socket.IO `connect_error` data).
   */
  Unauthorized: 'unauthorized',
  /** An attachment upload larger than `attachments.maxBytes` (HTTP 413); nothing was stored. */
  TooLarge: 'too_large',
  /** An attachment upload whose content type is not in `attachments.allowedTypes` (HTTP 415). */
  UnsupportedType: 'unsupported_type',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What a client should do after an error. */
export type RetryAdvice =
  /** The request itself is wrong and would fail the same way again: do not resend it. */
  | 'never'
  /** Resend the same request (a `send` with the same `clientMsgId`) after a backoff. */
  | 'backoff'
  /** Reconnect, to any gateway, then resend. */
  | 'reconnect'
  /** Get a new token before connecting again. */
  | 'new_token';

export interface ErrorInfo {
  readonly retry: RetryAdvice;
}

/** The catalogue: one entry per code, so a new code cannot ship without its advice. */
export const ERRORS: { readonly [C in ErrorCode]: ErrorInfo } = {
  bad_frame: { retry: 'never' },
  unknown_op: { retry: 'never' },
  invalid_field: { retry: 'never' },
  frame_too_large: { retry: 'never' },
  rate_limited: { retry: 'backoff' },
  not_found: { retry: 'never' },
  forbidden: { retry: 'never' },
  edit_window_passed: { retry: 'never' },
  message_deleted: { retry: 'never' },
  too_many_reactions: { retry: 'never' },
  blocked: { retry: 'never' },
  banned: { retry: 'never' },
  unavailable: { retry: 'backoff' },
  shutting_down: { retry: 'reconnect' },
  internal: { retry: 'backoff' },
  unauthorized: { retry: 'new_token' },
  too_large: { retry: 'never' },
  unsupported_type: { retry: 'never' },
};

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/**
 * True when resending the same request may succeed (after a backoff or a reconnect). False for
 * codes this version does not know: a newer server's code is not a reason to resend forever.
 */
export function isRetryable(code: string): boolean {
  if (!isErrorCode(code)) return false;
  const { retry } = ERRORS[code];
  return retry === 'backoff' || retry === 'reconnect';
}

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
