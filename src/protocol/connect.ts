/**
 * The connect parameters a client passes beside its token (`/ws` query; Socket.IO handshake
 * `auth` or query), checked the same way for both transports: a bad one refuses the connection
 * with `invalid_field` naming it (docs/protocol.md, "Connecting"), rather than being cut or
 * ignored, which left a client resuming from nothing without knowing it.
 */
import { ChatError, ErrorCode } from './errors.ts';
import { parseId } from './ids.ts';
import { optPosition } from './parse.ts';
import type { ResumePosition } from './position.ts';

/** Longest `device` label, in characters. */
export const DEVICE_LABEL_MAX = 32;
/** The label of a connection that gives none. */
export const DEFAULT_DEVICE = 'unknown';

export interface ConnectParams {
  device: string;
  /** The device's resume position (docs/protocol.md, "Resume positions"); wins over `since`. */
  resume: ResumePosition | null;
  /** Legacy: the newest message id the device has seen; null (and no `resume`): only the offline queue. */
  since: bigint | null;
}

/** Absent and empty parameters take their defaults; anything else must be valid. */
export function parseConnectParams(raw: {
  device?: string | undefined;
  resume?: string | undefined;
  since?: string | undefined;
}): ConnectParams {
  const device = raw.device || DEFAULT_DEVICE;
  if (device.length > DEVICE_LABEL_MAX) {
    throw new ChatError(ErrorCode.InvalidField, `device: at most ${DEVICE_LABEL_MAX} characters`, {
      field: 'device',
    });
  }
  let since: bigint | null = null;
  if (raw.since) {
    since = parseId(raw.since);
    if (since === null) {
      throw new ChatError(ErrorCode.InvalidField, 'since: expected a message id (decimal string)', {
        field: 'since',
      });
    }
  }
  const resume = raw.resume ? optPosition(raw.resume, 'resume', null) : null;
  return { device, resume, since };
}
