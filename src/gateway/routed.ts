/**
 * Frames the hub fans out, serialized once, with their routing metadata beside the bytes
 * (`Routed`): replay de-duplication and latency metrics read the metadata, never the frame.
 */

import type { ServerFrame, WireMessage } from '../protocol/index.ts';
import type { Routed } from '../routing/types.ts';

/** A live `message` frame, with the id and `createdAt` the hub and replay need. */
export function liveMessage(message: WireMessage): Routed {
  return {
    kind: 'message',
    messageId: message.id,
    createdAt: message.createdAt,
    frame: JSON.stringify({ op: 'message', message, replay: false } satisfies ServerFrame),
  };
}

/** Any other fanned-out frame: receipts, typing, conversation events. */
export function routedEvent(frame: Exclude<ServerFrame, { op: 'message' }>): Routed {
  return { kind: 'event', frame: JSON.stringify(frame) };
}
