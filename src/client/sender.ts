/**
 * Puts outbox messages on the wire and settles them: `sent` completes one, a retryable error or a
 * timeout sends it again later (same `clientMsgId`, so the server stores it once), any other
 * error drops it. A dropped socket puts everything in flight back in the queue.
 *
 * Resends on a live socket wait the resend backoff (a few seconds at most), and never less than
 * the error's `details.retryAfterMs`. A gateway that keeps answering `unavailable` is reported
 * (`onRegionUnavailable`), so the client can try another region rather than wait it out.
 */
import { type BackoffOptions, backoffDelay } from './backoff.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import { randomClientMsgId } from './ids.ts';
import { Outbox, type PendingSend, type SentInfo } from './outbox.ts';
import type { ClientStorage, OutboxEntry } from './storage.ts';
import { isRetryable, type RequestOf, type SentFrame } from './types.ts';

/**
 * Whether resending the same `clientMsgId` is safe and may succeed: the protocol's advice for a
 * server's code, and yes for a reply that never came.
 */
function worthResending(code: string): boolean {
  return code === LocalErrorCode.Timeout || isRetryable(code);
}

type Timer = ReturnType<typeof setTimeout>;

export interface SenderDeps {
  storage: ClientStorage;
  /** Between resends of one message on a live socket (`resendBackoff`). */
  backoff: BackoffOptions;
  random: () => number;
  /** Without a reply in this time a message is sent again. */
  timeoutMs: number;
  /**
   * Writes a frame on the current connection. Returns null when it went out, else why not
   * (`disconnected`: try after the next connect; `frame_too_large`: never).
   */
  write: (frame: RequestOf<'send'>) => ChatClientError | null;
  nextRequestId: () => string;
  /** A message was acked (whether or not anyone awaits it). */
  onSent: (info: SentInfo) => void;
  /** A failure no promise reports: a restored message refused, a storage error. */
  onError: (err: ChatClientError) => void;
  /**
   * `afterUnavailable` sends in a row answered `unavailable`, the first `afterMs` ago or more;
   * 0 never reports.
   */
  failover: { afterUnavailable: number; afterMs: number };
  /** The gateway keeps answering `unavailable` (see `failover`); reported once per streak. */
  onRegionUnavailable: () => void;
}

interface InFlight {
  clientMsgId: string;
  timer: Timer | null;
}

export class Sender {
  private readonly outbox = new Outbox();
  /** Request id → message, for every attempt on the current socket. */
  private readonly inFlight = new Map<string, InFlight>();
  private retryTimer: Timer | null = null;
  private seq = 0;
  private connected = false;
  private pumping = false;
  private pumpAgain = false;
  /** Sends answered `unavailable` with no `sent` in between, on this socket, and since when. */
  private unavailable = { count: 0, since: 0 };

  constructor(private readonly d: SenderDeps) {}

  get size(): number {
    return this.outbox.size;
  }

  /** Queues a message: stored first, then sent as soon as its conversation's turn comes. */
  enqueue(
    conversationId: string,
    body: string,
    attachments: readonly string[] = [],
    replyTo?: string,
  ): Promise<SentInfo> {
    const entry: OutboxEntry = {
      clientMsgId: randomClientMsgId(),
      conversationId,
      body,
      ...(attachments.length > 0 ? { attachments: [...attachments] } : {}),
      queuedAt: Date.now(),
      seq: this.seq++,
    };
    if (replyTo !== undefined) entry.replyTo = replyTo;
    const pending = this.outbox.add(entry, false);
    const result = new Promise<SentInfo>((resolve, reject) => pending.waiters.push({ resolve, reject }));
    this.d.storage.putOutbox(entry).then(
      () => {
        pending.persisted = true;
        this.pump();
      },
      (cause: unknown) => {
        this.outbox.remove(entry.clientMsgId);
        const err = new ChatClientError(LocalErrorCode.Storage, 'could not store the message', undefined, {
          cause,
        });
        for (const w of pending.waiters) w.reject(err);
      },
    );
    return result;
  }

  /** Adds entries loaded from storage (queued by an earlier session); no promise awaits them. */
  restore(entries: OutboxEntry[]): void {
    for (const entry of entries) {
      // Queued by an earlier session, which stored it before it first went on the wire: that
      // session may have sent it. (One enqueued in this session is already known, and counted.)
      const known = this.outbox.get(entry.clientMsgId) !== undefined;
      const pending = this.outbox.add(entry, true);
      if (!known) pending.attempts = 1;
      this.seq = Math.max(this.seq, entry.seq + 1);
    }
    this.pump();
  }

  /** A connection is ready: send what waits. */
  resume(): void {
    this.connected = true;
    this.pump();
  }

  /** The socket dropped: nothing is in flight any more; all goes again after the next `resume`. */
  pause(): void {
    this.connected = false;
    this.unavailable.count = 0;
    for (const f of this.inFlight.values()) if (f.timer) clearTimeout(f.timer);
    this.inFlight.clear();
    this.outbox.resetInFlight();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Rejects every waiting promise (the client closed); the messages stay queued. */
  rejectWaiters(err: ChatClientError): void {
    for (const p of this.outbox.all()) {
      const waiters = p.waiters;
      p.waiters = [];
      for (const w of waiters) w.reject(err);
    }
  }

  /** Handles a `sent` reply; false if it was not for a send of ours. */
  handleSent(frame: SentFrame): boolean {
    const attempt = this.inFlight.get(frame.id);
    if (!attempt) return false;
    this.inFlight.delete(frame.id);
    if (attempt.timer) clearTimeout(attempt.timer);
    this.unavailable.count = 0;
    // Already completed by the reply to an earlier attempt of the same message.
    const pending = this.outbox.remove(attempt.clientMsgId);
    if (!pending) return true;
    this.forget(attempt.clientMsgId);
    const info: SentInfo = {
      clientMsgId: attempt.clientMsgId,
      messageId: frame.messageId,
      conversationId: frame.conversationId,
      createdAt: frame.createdAt,
      duplicate: frame.duplicate,
    };
    if (frame.threadRoot !== undefined && frame.rootThread) {
      info.threadRoot = frame.threadRoot;
      info.rootThread = frame.rootThread;
    }
    for (const w of pending.waiters) w.resolve(info);
    this.d.onSent(info);
    this.pump();
    return true;
  }

  /** Handles an `error` reply; false if it was not for a send of ours. */
  handleError(requestId: string, err: ChatClientError): boolean {
    const attempt = this.inFlight.get(requestId);
    if (!attempt) return false;
    this.inFlight.delete(requestId);
    if (attempt.timer) clearTimeout(attempt.timer);
    const pending = this.outbox.get(attempt.clientMsgId);
    if (pending) {
      const retryAfterMs = err.details?.retryAfterMs;
      if (!worthResending(err.code)) this.fail(pending, err);
      else this.retryLater(pending, typeof retryAfterMs === 'number' ? retryAfterMs : 0);
    }
    // Last: leaving the gateway resets the outbox, so the resend goes at once on the next one.
    if (err.code === 'unavailable') this.noteUnavailable();
    return true;
  }

  private noteUnavailable(): void {
    const { afterUnavailable, afterMs } = this.d.failover;
    const now = Date.now();
    if (this.unavailable.count === 0) this.unavailable.since = now;
    this.unavailable.count++;
    if (
      afterUnavailable > 0 &&
      this.unavailable.count >= afterUnavailable &&
      now - this.unavailable.since >= afterMs
    ) {
      this.unavailable.count = 0;
      this.d.onRegionUnavailable();
    }
  }

  /** Puts every sendable queue head on the wire, and plans the next retry. */
  private pump(): void {
    if (!this.connected) return;
    // Settling a message can call pump() again (a refused one frees its conversation's queue):
    // run one more round instead of recursing into a loop over a stale list.
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
      } while (this.pumpAgain && this.connected);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    const now = Date.now();
    for (const pending of this.outbox.ready(now)) {
      const { clientMsgId, conversationId, body, attachments, replyTo } = pending.entry;
      const id = this.d.nextRequestId();
      const attemptNo = pending.attempts + 1;
      const problem = this.d.write({
        op: 'send',
        id,
        conversationId,
        body,
        clientMsgId,
        attempt: attemptNo,
        ...(attachments ? { attachments } : {}),
        ...(replyTo !== undefined ? { replyTo } : {}),
      });
      if (problem) {
        if (problem.code !== LocalErrorCode.Disconnected) this.fail(pending, problem);
        continue;
      }
      pending.attempts = attemptNo;
      pending.inFlight = true;
      const attempt: InFlight = { clientMsgId, timer: null };
      // No reply in time: send again. A late reply to this attempt still completes the message.
      attempt.timer = setTimeout(() => {
        attempt.timer = null;
        if (this.outbox.get(clientMsgId) === pending && pending.inFlight) this.retryLater(pending);
      }, this.d.timeoutMs);
      this.inFlight.set(id, attempt);
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const next = this.outbox.nextRetryAt(now);
    if (next !== null) {
      this.retryTimer = setTimeout(
        () => {
          this.retryTimer = null;
          this.pump();
        },
        Math.max(0, next - now),
      );
    }
  }

  private retryLater(pending: PendingSend, retryAfterMs = 0): void {
    pending.inFlight = false;
    const delay = Math.max(retryAfterMs, backoffDelay(pending.failures, this.d.backoff, this.d.random));
    pending.retryAt = Date.now() + delay;
    pending.failures++;
    this.pump();
  }

  /** The server will never take this message: drop it and tell whoever waits. */
  private fail(pending: PendingSend, err: ChatClientError): void {
    this.outbox.remove(pending.entry.clientMsgId);
    this.forget(pending.entry.clientMsgId);
    if (pending.waiters.length === 0) this.d.onError(err);
    for (const w of pending.waiters) w.reject(err);
    this.pump();
  }

  private forget(clientMsgId: string): void {
    this.d.storage.deleteOutbox(clientMsgId).catch((cause: unknown) => {
      this.d.onError(
        new ChatClientError(LocalErrorCode.Storage, 'could not delete an outbox entry', undefined, { cause }),
      );
    });
  }
}
