/**
 * What the SDK knows of thread roots' reply counts: a reply (live or replayed) carries its
 * root's summary as of that frame (`rootThread`), and replies can repeat or arrive out of order
 * (a replay overlapping live delivery, two regions), so the larger `replyCount` wins — a root's
 * replies are never removed, so its count only grows. The app hears of each larger count once.
 */
import { compareIds } from './ids.ts';
import type { WireMessage, WireThread } from './types.ts';

/** Roots remembered; forgetting an old one can only let a smaller count through once. */
export const DEFAULT_THREAD_CAPACITY = 10_000;

/** A thread root's summary changed (`ChatClientEvents.thread`). */
export interface ThreadEvent {
  conversationId: string;
  rootId: string;
  thread: WireThread;
}

export class ThreadCounts {
  private readonly known = new Map<string, WireThread>();

  constructor(private readonly capacity = DEFAULT_THREAD_CAPACITY) {}

  /** The root summary `message` (a reply) tells, if it is newer than what was known. */
  fromReply(message: WireMessage): ThreadEvent | null {
    if (!message.threadRoot || !message.rootThread) return null;
    return this.apply(message.conversationId, message.threadRoot, message.rootThread);
  }

  /** Takes a root's summary in (from a reply, history or `thread`); the event when it is newer. */
  apply(conversationId: string, rootId: string, thread: WireThread): ThreadEvent | null {
    const prev = this.known.get(rootId);
    if (prev && !isLarger(thread, prev)) return null;
    this.known.delete(rootId);
    this.known.set(rootId, thread);
    if (this.known.size > this.capacity) {
      const oldest = this.known.keys().next();
      if (!oldest.done) this.known.delete(oldest.value);
    }
    return { conversationId, rootId, thread };
  }
}

function isLarger(a: WireThread, b: WireThread): boolean {
  if (a.replyCount !== b.replyCount) return a.replyCount > b.replyCount;
  return compareIds(a.lastReplyId, b.lastReplyId) > 0;
}
