/**
 * The wire form of a `Routed` on NATS: a one-line ASCII header, then the frame's bytes as they
 * go to the client. The header (metadata and the recipients on the receiving gateway, their ids
 * comma-separated: user ids are [A-Za-z0-9_-]) is read with a few `indexOf`s on receipt; the
 * frame is never parsed.
 *
 *   m<messageId> <createdAt> <userId>,<userId>…\n<frame>     a live message
 *   e<userId>,<userId>…\n<frame>                             any other frame
 *
 * Control events are rare and travel as JSON on their own subject (`encodeControl`).
 */
import { isSessionsEnd } from './sessions-end.ts';
import type { ControlEvent, Delivery, Routed } from './types.ts';

/** A message id must be one header token: no space or line break (snowflake ids are digits). */
const MESSAGE_ID = /^[^\s]{1,64}$/;

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  readonly code = 'bad_envelope';
}

/** The header and frame for `userIds` (already checked by the caller: `assertUserId`). */
export function encodeRouted(routed: Routed, userIds: readonly string[]): string {
  if (userIds.length === 0) throw new EnvelopeError('routed payload without recipients');
  const users = userIds.join(',');
  if (routed.kind === 'event') return `e${users}\n${routed.frame}`;
  if (!MESSAGE_ID.test(routed.messageId) || !Number.isFinite(routed.createdAt)) {
    throw new EnvelopeError(`cannot route message id ${JSON.stringify(routed.messageId.slice(0, 80))}`);
  }
  return `m${routed.messageId} ${routed.createdAt} ${users}\n${routed.frame}`;
}

export function decodeRouted(data: string): Delivery {
  const nl = data.indexOf('\n');
  if (nl < 0) throw new EnvelopeError('routed payload without a header line');
  const frame = data.slice(nl + 1);
  switch (data.charCodeAt(0)) {
    case 0x65 /* e */:
      return { userIds: recipients(data.slice(1, nl)), routed: { kind: 'event', frame } };
    case 0x6d /* m */:
      {
        const sp1 = data.indexOf(' ');
        const sp2 = sp1 > 1 && sp1 < nl ? data.indexOf(' ', sp1 + 1) : -1;
        const createdAt = sp2 > sp1 && sp2 < nl ? Number(data.slice(sp1 + 1, sp2)) : Number.NaN;
        if (!Number.isFinite(createdAt)) throw new EnvelopeError('message header without createdAt');
        return {
          userIds: recipients(data.slice(sp2 + 1, nl)),
          routed: { kind: 'message', messageId: data.slice(1, sp1), createdAt, frame },
        };
      }
    default:
      throw new EnvelopeError(`unknown routed kind ${JSON.stringify(data[0])}`);
  }
}

function recipients(list: string): string[] {
  if (list.length === 0) throw new EnvelopeError('routed payload without recipients');
  return list.split(',');
}

export function encodeControl(event: ControlEvent): string {
  return JSON.stringify(event);
}

export function decodeControl(data: string): ControlEvent {
  const e = JSON.parse(data) as {
    type?: unknown;
    conversationId?: unknown;
    userId?: unknown;
    end?: unknown;
  } | null;
  if (e?.type === 'members_changed' && typeof e.conversationId === 'string') {
    return { type: e.type, conversationId: e.conversationId };
  }
  if (e?.type === 'blocks_changed' && typeof e.userId === 'string') return { type: e.type, userId: e.userId };
  if (e?.type === 'sessions_ended' && isSessionsEnd(e.end)) return { type: e.type, end: e.end };
  throw new EnvelopeError('unknown control event');
}
