/**
 * The wire form of a `Routed` on NATS: a one-line ASCII header, then the frame's bytes as they
 * go to the client. The header is built once per publish (shared by every recipient's subject)
 * and read with two `indexOf`s on receipt; the frame is never parsed.
 *
 *   m<messageId> <createdAt>\n<frame>     a live message
 *   e\n<frame>                            any other frame
 *
 * Control events are rare and travel as JSON on their own subject (`encodeControl`).
 */
import type { ControlEvent, Routed } from './types.ts';

/** A message id must be one header token: no space or line break (snowflake ids are digits). */
const MESSAGE_ID = /^[^\s]{1,64}$/;

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  readonly code = 'bad_envelope';
}

export function encodeRouted(routed: Routed): string {
  if (routed.kind === 'event') return `e\n${routed.frame}`;
  if (!MESSAGE_ID.test(routed.messageId) || !Number.isFinite(routed.createdAt)) {
    throw new EnvelopeError(`cannot route message id ${JSON.stringify(routed.messageId.slice(0, 80))}`);
  }
  return `m${routed.messageId} ${routed.createdAt}\n${routed.frame}`;
}

export function decodeRouted(data: string): Routed {
  const nl = data.indexOf('\n');
  if (nl < 0) throw new EnvelopeError('routed payload without a header line');
  const frame = data.slice(nl + 1);
  switch (data.charCodeAt(0)) {
    case 0x65 /* e */:
      return { kind: 'event', frame };
    case 0x6d /* m */:
      {
        const sp = data.indexOf(' ');
        const createdAt = sp > 1 && sp < nl ? Number(data.slice(sp + 1, nl)) : Number.NaN;
        if (!Number.isFinite(createdAt)) throw new EnvelopeError('message header without createdAt');
        return { kind: 'message', messageId: data.slice(1, sp), createdAt, frame };
      }
    default:
      throw new EnvelopeError(`unknown routed kind ${JSON.stringify(data[0])}`);
  }
}

export function encodeControl(event: ControlEvent): string {
  return JSON.stringify(event);
}

export function decodeControl(data: string): ControlEvent {
  const e = JSON.parse(data) as Partial<ControlEvent> | null;
  if (e?.type !== 'members_changed' || typeof e.conversationId !== 'string') {
    throw new EnvelopeError('unknown control event');
  }
  return { type: e.type, conversationId: e.conversationId };
}
