/**
 * The HTTP status of every error code, in one place: the server API and the gateway's other HTTP
 * endpoints (attachments, metrics) answer typed errors with the status their code maps to.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorCode } from '../protocol/index.ts';

export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_frame: 400,
  unknown_op: 400,
  invalid_field: 400,
  frame_too_large: 413,
  rate_limited: 429,
  not_found: 404,
  forbidden: 403,
  unavailable: 503,
  shutting_down: 503,
  internal: 500,
  unauthorized: 401,
  too_large: 413,
  unsupported_type: 415,
  // The message is in a state the request cannot apply to.
  edit_window_passed: 403,
  message_deleted: 410,
  too_many_reactions: 409,
  // Moderation refusals: the caller may not do this to that user until someone changes it.
  blocked: 403,
  banned: 409,
};

/** `404 Not Found`: the status line uWS writes. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}
