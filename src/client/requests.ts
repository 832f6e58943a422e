/**
 * The request table: every request the connection made that has no reply yet (`sent` replies go
 * to the sender instead). Puts a request on the wire, settles it with its reply, an error or its
 * timeout, and fails the ones on a socket that dropped. A `sync` is special only in that the
 * client runs a replay while it is out: the table tells its owner when that replay starts and
 * when it ends without a `synced`.
 */
import { ChatClientError, LocalErrorCode } from './errors.ts';
import type {
  ClientFrame,
  PongFrame,
  ReplyOf,
  ReplyOp,
  RequestOf,
  ResultFrame,
  SyncedFrame,
} from './types.ts';

type Timer = ReturnType<typeof setTimeout>;

/** A reply settled through `request` (`sent` goes to the sender instead). */
export type Reply = ResultFrame | PongFrame | SyncedFrame;

/** Every request frame, with the `id` the client fills in. */
type IdentifiedRequest = RequestOf<ReplyOp> & { id: string };
/** A request as the helpers build it, before it gets its `id`. */
export type RequestFrame<Op extends ReplyOp = ReplyOp> = Op extends ReplyOp
  ? Omit<RequestOf<Op>, 'id'>
  : never;

/** Writes a frame on one session; returns an error instead if it cannot go out. */
export type WriteFrame = (frame: ClientFrame) => ChatClientError | null;

interface PendingRequest {
  frame: IdentifiedRequest;
  /** On the wire on the current session (else waiting for a connection). */
  sent: boolean;
  /** A `sync` whose replay is running on the client side. */
  replay: boolean;
  timer: Timer;
  resolve: (reply: Reply) => void;
  reject: (err: ChatClientError) => void;
}

export interface RequestTableDeps {
  /** The next request id (one sequence with the sender's, so ids never collide). */
  nextRequestId: () => string;
  /** A `sync` goes on the wire: fill in where to resume from, and start the client-side replay. */
  beginSync: (frame: RequestOf<'sync'>) => void;
  /** A `sync` whose replay was running failed: the replay ends without a `synced`. */
  syncFailed: () => void;
}

/** The reply op that answers a request op (any request may instead get an `error`). */
function replyOp(op: ReplyOp): Reply['op'] {
  return op === 'sync' ? 'synced' : op === 'ping' ? 'pong' : 'result';
}

export function protocolError(op: string, got: string): ChatClientError {
  return new ChatClientError(LocalErrorCode.Protocol, `${op}: unexpected reply "${got}"`);
}

export class RequestTable {
  private readonly pending = new Map<string, PendingRequest>();

  constructor(private readonly d: RequestTableDeps) {}

  /**
   * Adds a request and resolves with its reply. Without `write` (not connected) it waits for
   * `transmitWaiting`; the timeout covers the wait.
   */
  add<F extends RequestFrame>(
    fields: F,
    timeoutMs: number,
    write: WriteFrame | null,
  ): Promise<ReplyOf<F['op']>> {
    const id = this.d.nextRequestId();
    const frame = { ...fields, id } as IdentifiedRequest;
    return new Promise<ReplyOf<F['op']>>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settle(
            id,
            new ChatClientError(LocalErrorCode.Timeout, `${frame.op}: no reply in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      // `settle` resolves only with a reply of `replyOp(frame.op)`, which is `ReplyOf<F['op']>`.
      const answer = resolve as (reply: Reply) => void;
      const req: PendingRequest = { frame, sent: false, replay: false, timer, resolve: answer, reject };
      this.pending.set(id, req);
      if (write) this.transmit(write, req);
    });
  }

  /** A new session is ready: every request still waiting for one goes out on it, in order. */
  transmitWaiting(write: WriteFrame): void {
    for (const req of this.pending.values()) if (!req.sent) this.transmit(write, req);
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /**
   * A `synced` answered the `sync` with this id: its replay ended with it (not to be ended again
   * when it settles). False if no such request waits.
   */
  syncEnded(id: string): boolean {
    const req = this.pending.get(id);
    if (!req) return false;
    req.replay = false;
    return true;
  }

  /** Resolves (reply) or rejects (error, or a reply of the wrong kind) a pending request and forgets it. */
  settle(id: string, reply: Reply | ChatClientError): void {
    const req = this.pending.get(id);
    if (!req) return;
    const outcome =
      reply instanceof ChatClientError || reply.op === replyOp(req.frame.op)
        ? reply
        : protocolError(req.frame.op, reply.op);
    this.pending.delete(id);
    clearTimeout(req.timer);
    if (outcome instanceof ChatClientError) {
      if (req.replay) this.d.syncFailed();
      req.reject(outcome);
    } else {
      req.resolve(outcome);
    }
  }

  /**
   * The socket dropped: requests on the wire fail with `err` and are not retried (they may have
   * taken effect); their replays were already forgotten. Those still waiting keep waiting.
   */
  abandonSent(err: ChatClientError): void {
    for (const [id, req] of this.pending) {
      if (!req.sent) continue;
      req.replay = false;
      this.settle(id, err);
    }
  }

  /** Every pending request fails with `err` (the client closed). */
  rejectAll(err: ChatClientError): void {
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }

  private transmit(write: WriteFrame, req: PendingRequest): void {
    if (req.frame.op === 'sync') {
      this.d.beginSync(req.frame);
      req.replay = true;
    }
    req.sent = true;
    const problem = write(req.frame);
    if (problem) this.settle(req.frame.id, problem);
  }
}
