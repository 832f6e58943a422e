/**
 * What the load generator says and hears on each kind of target, reduced to what it measures:
 * a `send` carrying a timestamp in its body, its ack, the `message` each recipient gets, errors,
 * and the few setup calls (create a group). Two encodings:
 *
 * - `raw`: the gateway's v1 JSON frames (docs/protocol.md), also spoken by the bare-uWS ceiling.
 * - `socketio`: Engine.IO v4 / Socket.IO v5 packets over a WebSocket (`42["send",{…}]` with an
 *   ack id, acks as `43<id>[reply]`), spoken by the gateway's Socket.IO endpoint and by the
 *   Socket.IO + Redis baseline. Event names are the raw protocol's op names; the ack argument is
 *   the reply frame.
 *
 * Incoming frames are classified by looking at bytes, not by JSON.parse: the load generator runs
 * beside the server on 2 cores and must stay cheap. Only rare frames (errors, setup replies) are
 * parsed.
 */

import type { ClientFrame, RequestOf, ResultData, ResultFrame } from '../../src/protocol/index.ts';

export type WireKind = 'raw' | 'socketio';

/** A frame as the load generator sees it. `reqId` is the request id (raw) or ack id (Socket.IO). */
export type Incoming =
  | { kind: 'ack'; reqId: number }
  | { kind: 'delivery'; t: number; seq: number }
  | { kind: 'error'; reqId: number; code: string }
  /** A `result` (setup calls only); its data is what the protocol says some request returns. */
  | { kind: 'reply'; reqId: number; data: ResultData | undefined }
  | { kind: 'pong'; reqId: number }
  | { kind: 'ready' }
  | { kind: 'ping' }
  | { kind: 'handshake' }
  | { kind: 'other' };

const ZERO = 0x30;
const NINE = 0x39;

function indexOfAscii(buf: Buffer, needle: Buffer, from: number, end: number): number {
  const i = buf.indexOf(needle, from);
  return i < 0 || i + needle.length > end ? -1 : i;
}

/** Parses the decimal digits starting at `pos`; returns [value, position after the digits]. */
function digits(buf: Buffer, pos: number, end: number): [number, number] {
  let v = 0;
  while (pos < end) {
    const c = buf[pos]!;
    if (c < ZERO || c > NINE) break;
    v = v * 10 + (c - ZERO);
    pos++;
  }
  return [v, pos];
}

const BODY = Buffer.from('"body":"T');
const RAW_MESSAGE = Buffer.from('{"op":"message"');
const RAW_SENT = Buffer.from('{"op":"sent","id":"');
const RAW_SYNCED = Buffer.from('{"op":"synced"');
const RAW_ERROR = Buffer.from('{"op":"error"');
const RAW_RESULT = Buffer.from('{"op":"result","id":"');
const RAW_PONG = Buffer.from('{"op":"pong","id":"');
const SIO_MESSAGE = Buffer.from('42["message"');
const SIO_SYNCED = Buffer.from('42["synced"');

function startsWith(buf: Buffer, prefix: Buffer, start: number, end: number): boolean {
  if (end - start < prefix.length) return false;
  return buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;
}

/** Reads `T<t>.<seq>.` after `"body":"`; null when the frame carries no benchmark body. */
function delivery(buf: Buffer, start: number, end: number): Incoming {
  const at = indexOfAscii(buf, BODY, start, end);
  if (at < 0) return { kind: 'other' };
  const [t, p1] = digits(buf, at + BODY.length, end);
  const [seq] = digits(buf, p1 + 1, end);
  return { kind: 'delivery', t, seq };
}

function parseJson(buf: Buffer, start: number, end: number): unknown {
  try {
    return JSON.parse(buf.toString('utf8', start, end));
  } catch {
    return null;
  }
}

function errorOf(frame: unknown, reqId: number): Incoming {
  const f = frame as { code?: unknown; error?: { code?: unknown } } | null;
  const code =
    typeof f?.code === 'string' ? f.code : typeof f?.error?.code === 'string' ? f.error.code : 'error';
  return { kind: 'error', reqId, code };
}

/** Classifies one raw-protocol frame. */
export function classifyRaw(buf: Buffer, start: number, end: number): Incoming {
  if (startsWith(buf, RAW_MESSAGE, start, end)) return delivery(buf, start, end);
  if (startsWith(buf, RAW_SENT, start, end)) {
    return { kind: 'ack', reqId: digits(buf, start + RAW_SENT.length, end)[0] };
  }
  if (startsWith(buf, RAW_PONG, start, end))
    return { kind: 'pong', reqId: digits(buf, start + RAW_PONG.length, end)[0] };
  if (startsWith(buf, RAW_SYNCED, start, end)) return { kind: 'ready' };
  if (startsWith(buf, RAW_RESULT, start, end)) {
    const reqId = digits(buf, start + RAW_RESULT.length, end)[0];
    return { kind: 'reply', reqId, data: (parseJson(buf, start, end) as ResultFrame | null)?.data };
  }
  if (startsWith(buf, RAW_ERROR, start, end)) {
    const frame = parseJson(buf, start, end) as { id?: unknown } | null;
    const reqId = typeof frame?.id === 'string' ? Number(frame.id) : -1;
    return errorOf(frame, Number.isFinite(reqId) ? reqId : -1);
  }
  return { kind: 'other' };
}

/**
 * Classifies one Engine.IO packet. `readyOnConnect`: the namespace connect ack (`40`) is "ready"
 * (the baseline); otherwise ready is a `synced` event (the gateway, which replays first).
 */
export function classifySocketIo(buf: Buffer, start: number, end: number, readyOnConnect: boolean): Incoming {
  const c0 = buf[start];
  if (c0 === 0x32 && end - start === 1) return { kind: 'ping' }; // "2"
  if (c0 === 0x30) return { kind: 'handshake' }; // "0{sid…}"
  if (c0 !== 0x34) return { kind: 'other' }; // not "4" (message)
  const c1 = buf[start + 1];
  if (c1 === 0x32) {
    // "42[event,…]"
    if (startsWith(buf, SIO_MESSAGE, start, end)) return delivery(buf, start, end);
    if (!readyOnConnect && startsWith(buf, SIO_SYNCED, start, end)) return { kind: 'ready' };
    return { kind: 'other' };
  }
  if (c1 === 0x33) {
    // "43<ackId>[reply]"
    const [reqId, p] = digits(buf, start + 2, end);
    const args = parseAckArgs(buf, p, end);
    const reply = args?.[0] as { op?: unknown; error?: unknown; data?: ResultData } | undefined;
    if (reply && (reply.op === 'error' || reply.error !== undefined)) return errorOf(reply, reqId);
    if (reply && reply.op === 'sent') return { kind: 'ack', reqId };
    if (reply && reply.op === 'pong') return { kind: 'pong', reqId };
    return { kind: 'reply', reqId, data: reply?.data };
  }
  if (c1 === 0x30) return readyOnConnect ? { kind: 'ready' } : { kind: 'other' }; // "40{sid}"
  if (c1 === 0x34) return errorOf(parseJson(buf, start + 2, end) ?? { code: 'connect_error' }, -1); // "44"
  return { kind: 'other' };
}

const SENT_OP = Buffer.from('"op":"sent"');
const PONG_OP = Buffer.from('"op":"pong"');

/** Acks carry small JSON; `sent` and `pong` acks are recognised without a full parse. */
function parseAckArgs(buf: Buffer, start: number, end: number): unknown[] | null {
  if (indexOfAscii(buf, SENT_OP, start, Math.min(end, start + 16)) >= 0) return [{ op: 'sent' }];
  if (indexOfAscii(buf, PONG_OP, start, Math.min(end, start + 16)) >= 0) return [{ op: 'pong' }];
  const v = parseJson(buf, start, end);
  return Array.isArray(v) ? v : null;
}

/** Encoders: raw frames use the request id as `id`; Socket.IO uses it as the ack id. */
export interface Encoder {
  /**
   * With a clientMsgId, also `attempt: 1`: the load generator sends every message exactly once,
   * as the SDK's first attempt does.
   */
  send(reqId: number, conversationId: string, body: string, clientMsgId: string | null): string;
  createGroup(reqId: number, title: string, members: string[]): string;
  /** A `ping` request (the gateway answers `pong`): probes how quickly the server's event loop answers. */
  ping(reqId: number): string;
  /** Reply to an Engine.IO ping (Socket.IO only). */
  pong(): string;
  /** The namespace connect packet sent after the Engine.IO handshake (Socket.IO only). */
  connect(token: string): string;
}

export const rawEncoder: Encoder = {
  send: (reqId, conversationId, body, clientMsgId) =>
    `{"op":"send","id":"${reqId}","conversationId":${JSON.stringify(conversationId)},"body":"${body}"${
      clientMsgId ? `,"clientMsgId":"${clientMsgId}","attempt":1` : ''
    }}`,
  createGroup: (reqId, title, members) =>
    JSON.stringify({ op: 'createGroup', id: String(reqId), title, members } satisfies ClientFrame),
  ping: (reqId) => `{"op":"ping","id":"${reqId}"}`,
  pong: () => '',
  connect: () => '',
};

export const socketIoEncoder: Encoder = {
  send: (reqId, conversationId, body, clientMsgId) =>
    `42${reqId}["send",{"id":"${reqId}","conversationId":${JSON.stringify(conversationId)},"body":"${body}"${
      clientMsgId ? `,"clientMsgId":"${clientMsgId}","attempt":1` : ''
    }}]`,
  createGroup: (reqId, title, members) =>
    `42${reqId}${JSON.stringify(['createGroup', { id: String(reqId), title, members } satisfies Omit<RequestOf<'createGroup'>, 'op'>])}`,
  ping: (reqId) => `42${reqId}["ping",{"id":"${reqId}"}]`,
  pong: () => '3',
  connect: (token) => `40${JSON.stringify({ token })}`,
};
