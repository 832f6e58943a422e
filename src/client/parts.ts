/**
 * Builds the parts `ChatConnection` coordinates — the sender (outbox on the wire), attachments
 * over HTTP, the resume tracker and the request table — loads what the client storage kept into
 * them, and routes what each of them reports:
 * to each other, to the connection (`ConnectionHost`), or to the app as events (a delivered
 * message with its newest state and thread count, an acked send).
 */
import { AttachmentHttp } from './attachments.ts';
import type { Emitter } from './emitter.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import type { Gateways } from './gateways.ts';
import type { MessageStates } from './message-states.ts';
import type { ChatClientEvents, ChatClientOptions, SyncedInfo } from './options.ts';
import { RequestTable } from './requests.ts';
import { ResumeTracker } from './resume.ts';
import { Sender } from './sender.ts';
import type { ConnectionSettings } from './settings.ts';
import { CloseCode } from './socket.ts';
import type { ThreadCounts } from './threads.ts';
import type { TokenProvider } from './token.ts';
import type { ClientFrame } from './types.ts';

/** What the parts need from the connection. */
export interface ConnectionHost {
  readonly events: Pick<Emitter<ChatClientEvents>, 'emit'>;
  readonly states: MessageStates;
  readonly threads: ThreadCounts;
  readonly gateways: Gateways;
  readonly tokens: TokenProvider;
  /** Writes on the current session once it has its `welcome`; `disconnected` if there is none. */
  writeCurrent: (frame: ClientFrame) => ChatClientError | null;
  /** Drops the current session, if any (and so moves to the next gateway). */
  dropCurrent: (code: number, reason: string) => void;
  /** Request ids, one sequence for requests and sends: `prefix` and the next number. */
  nextRequestId: (prefix: 'r' | 's') => string;
  sync: () => Promise<SyncedInfo>;
}

export interface ConnectionParts {
  sender: Sender;
  files: AttachmentHttp;
  resume: ResumeTracker;
  requests: RequestTable;
  /** Loads what the storage kept (resume position, `lastSeenId`, outbox) into the parts. */
  load: () => Promise<void>;
}

export function buildParts(
  s: ConnectionSettings,
  options: ChatClientOptions,
  host: ConnectionHost,
): ConnectionParts {
  const { events, states, threads, tokens } = host;
  const sender = new Sender({
    storage: s.storage,
    backoff: s.resendBackoff,
    random: s.random,
    timeoutMs: s.requestTimeoutMs,
    write: host.writeCurrent,
    nextRequestId: () => host.nextRequestId('s'),
    onSent: (info) => {
      // The server does not echo our own message to this socket; a later replay of it is not news.
      resume.markSeen(info.messageId);
      events.emit('sent', info);
      if (info.threadRoot === undefined || !info.rootThread) return;
      const event = threads.apply(info.conversationId, info.threadRoot, info.rootThread);
      if (event) events.emit('thread', event);
    },
    onError: (err) => events.emit('error', err),
    failover: s.failover,
    onRegionUnavailable: () =>
      host.dropCurrent(CloseCode.RegionUnavailable, 'sends keep failing: unavailable'),
  });
  const files = new AttachmentHttp({
    currentUrl: () => host.gateways.current,
    token: () => tokens.get(s.requestTimeoutMs),
    renewToken: () => {
      if (!tokens.refreshable) return false;
      tokens.invalidate();
      return true;
    },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const resume: ResumeTracker = new ResumeTracker({
    storage: s.storage,
    dedupCapacity: options.dedupCapacity,
    deliver: (message, replay) => {
      states.apply(message);
      events.emit('message', states.current(message), { replay });
      const thread = threads.fromReply(message);
      if (thread) events.emit('thread', thread);
    },
    deliverUpdate: (update, replay) => {
      if (states.apply(update.message)) {
        const meta = { changeId: update.changeId, kind: update.kind, by: update.by, replay };
        events.emit('update', states.current(update.message), meta);
      }
    },
    // An ack gets no reply; without a connected session it is not sent.
    ack: (messageIds) => void host.writeCurrent({ op: 'ack', messageIds }),
    storageError: (err) => events.emit('error', err),
    announce: (info) => events.emit('synced', info),
    continueReplay: () =>
      host.sync().catch((err: unknown) => {
        if (err instanceof ChatClientError) events.emit('error', err);
      }),
  });
  const requests = new RequestTable({
    nextRequestId: () => host.nextRequestId('r'),
    beginSync: (frame) => resume.beginSync(frame),
    syncFailed: () => resume.endReplay(),
  });
  const load = async () => {
    try {
      const [position, lastSeen, entries] = await Promise.all([
        s.storage.loadPosition(),
        s.storage.loadLastSeenId(),
        s.storage.loadOutbox(),
      ]);
      resume.restore(position, lastSeen);
      sender.restore(entries);
    } catch (cause) {
      events.emit(
        'error',
        new ChatClientError(LocalErrorCode.Storage, 'could not load client storage', undefined, { cause }),
      );
    }
  };
  return { sender, files, resume, requests, load };
}
