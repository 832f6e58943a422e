/**
 * Reads one frame from the socket and hands it to the part that deals with it: messages and
 * updates to the resume tracker, `sent` and the errors answering a send to the sender, replies
 * and the errors answering a request to the request table; what changes the connection's state
 * (`welcome`, the connect replay's `synced`, an error answering nothing) to the connection.
 * Checks what the client relies on (an op; a message's id and fields) and reports an unreadable
 * frame as a `protocol` error; everything else is trusted as the server's frames (src/protocol).
 * Frames that only inform the app (conversation events, receipts, presence, typing) become events.
 */
import type { Emitter } from './emitter.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { isMessageId } from './ids.ts';
import type { ChatClientEvents } from './options.ts';
import type { RequestTable } from './requests.ts';
import type { ResumeTracker } from './resume.ts';
import type { Sender } from './sender.ts';
import type { ErrorFrame, ServerFrame, SyncedFrame, WelcomeFrame, WireMessage } from './types.ts';

/** Where frames go. */
export interface FrameTargets {
  readonly resume: ResumeTracker;
  readonly sender: Sender;
  readonly requests: RequestTable;
  readonly events: Pick<Emitter<ChatClientEvents>, 'emit'>;
  /** The session's `welcome`. */
  welcome: (frame: WelcomeFrame) => void;
  /** The `synced` that ends the replay following the welcome (`id: null`). */
  connectSynced: (frame: SyncedFrame) => void;
  /** An error frame that answers no send or request waiting here, and the error it reports. */
  error: (frame: ErrorFrame, err: ChatClientError) => void;
}

export function dispatchFrame(data: unknown, to: FrameTargets): void {
  const { events } = to;
  let frame: unknown;
  try {
    if (typeof data !== 'string') throw new TypeError('binary frame');
    frame = JSON.parse(data);
  } catch (cause) {
    events.emit(
      'error',
      new ChatClientError(LocalErrorCode.Protocol, 'unreadable frame', undefined, { cause }),
    );
    return;
  }
  if (typeof frame !== 'object' || frame === null || typeof (frame as { op?: unknown }).op !== 'string') {
    events.emit('error', new ChatClientError(LocalErrorCode.Protocol, 'frame without op'));
    return;
  }
  // Trusted from here on, as the server's frames (src/protocol); a frame of an op this client
  // does not know falls through to the default case.
  const f = frame as ServerFrame;
  switch (f.op) {
    case 'welcome':
      to.welcome(f);
      return;
    case 'message':
      if (!isWireMessage(f.message)) {
        events.emit('error', new ChatClientError(LocalErrorCode.Protocol, 'malformed message frame'));
        return;
      }
      to.resume.receive(f, f.replay === true);
      return;
    case 'update':
      if (!isWireMessage(f.message) || !isMessageId(f.changeId)) {
        events.emit('error', new ChatClientError(LocalErrorCode.Protocol, 'malformed update frame'));
        return;
      }
      to.resume.receiveUpdate(f, f.replay === true);
      return;
    case 'synced':
      if (f.id === null) {
        to.connectSynced(f);
        return;
      }
      // An explicit `sync` ended: its replay ends before the request settles.
      if (!to.requests.syncEnded(f.id)) return;
      to.resume.endReplay(f);
      to.requests.settle(f.id, f);
      return;
    case 'sent':
      to.sender.handleSent(f);
      return;
    case 'result':
    case 'pong':
      if (typeof f.id === 'string') to.requests.settle(f.id, f);
      return;
    case 'error': {
      const err = new ChatClientError(
        typeof f.code === 'string' ? f.code : 'internal',
        typeof f.message === 'string' ? f.message : 'server error',
        f.details,
      );
      if (typeof f.id === 'string') {
        if (to.sender.handleError(f.id, err)) return;
        if (to.requests.has(f.id)) {
          to.requests.settle(f.id, err);
          return;
        }
      }
      to.error(f, err);
      return;
    }
    case 'conversation':
      events.emit('conversation', { conversation: f.conversation, event: f.event });
      return;
    case 'receipt':
      events.emit('receipt', {
        conversationId: String(f.conversationId),
        userId: String(f.userId),
        messageId: String(f.messageId),
      });
      return;
    case 'presence':
      events.emit('presence', f);
      return;
    case 'typing':
      events.emit('typing', f);
      return;
    default:
      // A newer server's frame this client does not know: ignore it (forward compatibility).
      return;
  }
}

function isWireMessage(value: unknown): value is WireMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return (
    isMessageId(m.id) &&
    typeof m.conversationId === 'string' &&
    typeof m.senderId === 'string' &&
    typeof m.body === 'string' &&
    typeof m.createdAt === 'number' &&
    (m.clientMsgId === null || typeof m.clientMsgId === 'string' || m.clientMsgId === undefined)
  );
}
