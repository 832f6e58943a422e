/**
 * `thread`: a page of the replies under a thread root, with the root as it is now. Threads are
 * one level deep (a reply to a reply joins its parent's root's thread), so a reply is not a
 * root: asking for its thread is `invalid_field`. Membership is checked as for `history`.
 */
import { ChatError, ErrorCode } from '../../errors.ts';
import { resultFrame, toWire } from '../frames.ts';
import { readRefs } from '../refs.ts';
import type { Conversations } from './conversations.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export class ThreadOps {
  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
  ) {}

  readonly handlers: HandlersFor<'thread'> = {
    thread: async (state, f) => {
      await this.conversations.requireMember(f.conversationId, state.conn.userId);
      const root = await this.d.storage.getMessage(f.conversationId, f.rootId);
      if (!root || root.change) throw new ChatError(ErrorCode.NotFound, 'no such message');
      if (root.threadRoot !== undefined && root.threadRoot !== null) {
        throw new ChatError(ErrorCode.InvalidField, 'rootId: a reply; its thread is its threadRoot', {
          field: 'rootId',
          threadRoot: root.threadRoot.toString(),
        });
      }
      // One more than asked: whether there is more is whether it came back.
      const read = await this.d.storage.getThread(f.conversationId, f.rootId, {
        limit: f.limit + 1,
        ...(f.before !== null ? { before: f.before } : {}),
        ...(f.after !== null ? { after: f.after } : {}),
      });
      const page = read.slice(0, f.limit);
      const refs = await readRefs(this.d.storage, page, [root, ...page]);
      return resultFrame(f.op, f.id, {
        root: toWire(root, refs),
        order: f.after !== null ? 'oldest_first' : 'newest_first',
        messages: page.map((m) => toWire(m, refs)),
        hasMore: read.length > f.limit,
      });
    },
  };
}
