/**
 * `search`: a user's messages that have every word of a query, newest first, from this region's
 * store. Which conversations are searched is decided here, not by the store: the one named (if the
 * user is a member; `not_found` otherwise, as for history) or every conversation the user belongs
 * to now — a conversation they left or never joined is not searched at all.
 */
import { searchTerms } from '../../protocol/index.ts';
import { resultFrame, toWire } from '../frames.ts';
import { readRefs } from '../refs.ts';
import type { Conversations } from './conversations.ts';
import type { HandlersFor, OpsContext } from './types.ts';

export class SearchOps {
  constructor(
    private readonly d: OpsContext,
    private readonly conversations: Conversations,
  ) {}

  readonly handlers: HandlersFor<'search'> = {
    search: async (state, f) => {
      const userId = state.conn.userId;
      let conversationIds: string[];
      if (f.conversationId !== null) {
        await this.conversations.requireMember(f.conversationId, userId);
        conversationIds = [f.conversationId];
      } else {
        conversationIds = await this.d.storage.listUserConversationIds(userId);
      }
      const page = await this.d.storage.searchMessages({
        conversationIds,
        terms: searchTerms(f.query),
        limit: f.limit,
        ...(f.before !== null ? { before: f.before } : {}),
      });
      const refs = await readRefs(this.d.storage, page.messages);
      return resultFrame(f.op, f.id, {
        messages: page.messages.map((m) => toWire(m, refs)),
        nextBefore: page.nextBefore?.toString() ?? null,
      });
    },
  };
}
