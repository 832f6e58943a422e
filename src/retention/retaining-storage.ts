/**
 * A `Storage` whose reads never return an expired message (`RetentionPolicy`): history, threads,
 * search, the offline queue, the late index (replay) and single reads all check each message
 * against its conversation's cutoff. The sweeper removes expired rows only now and then (and a
 * changed period applies to rows already written), so reads must not rely on the rows being gone.
 * Writes pass through untouched.
 */
import type { LateMessage, Storage, StoredMessage } from '../storage/types.ts';
import { overriding } from '../util/overriding.ts';
import { snowflakeFloor } from '../util/snowflake.ts';
import type { RetentionPolicy } from './policy.ts';

/** Pages read at most to fill one offline or late page past expired entries. */
const MAX_REFILLS = 20;

export function retainingStorage(inner: Storage, policy: RetentionPolicy): Storage {
  const cutoffs = async (messages: readonly StoredMessage[]) => {
    const out = new Map<string, number | null>();
    for (const id of new Set(messages.map((m) => m.conversationId))) out.set(id, await policy.cutoff(id));
    return out;
  };
  /** The messages that have not expired, in their order. */
  const live = async <T>(items: readonly T[], messageOf: (item: T) => StoredMessage): Promise<T[]> => {
    const cut = await cutoffs(items.map(messageOf));
    return items.filter((item) => {
      const m = messageOf(item);
      const c = cut.get(m.conversationId);
      return c === null || c === undefined || m.createdAt >= c;
    });
  };
  const same = (m: StoredMessage) => m;

  return overriding(inner, {
    async getMessage(conversationId, messageId) {
      const m = await inner.getMessage(conversationId, messageId);
      return m && (await live([m], same)).length > 0 ? m : null;
    },
    async getHistory(conversationId, query) {
      const cutoff = await policy.cutoff(conversationId);
      if (cutoff === null) return inner.getHistory(conversationId, query);
      // Oldest first: start past what expired, so the page is full of live messages.
      if (query.after !== undefined) {
        const floor = snowflakeFloor(Math.max(cutoff, 0));
        const after = floor > 0n && floor - 1n > query.after ? floor - 1n : query.after;
        return live(await inner.getHistory(conversationId, { ...query, after }), same);
      }
      // Newest first: whatever expired is at the page's end.
      return live(await inner.getHistory(conversationId, query), same);
    },
    async getThread(conversationId, rootId, query) {
      return live(await inner.getThread(conversationId, rootId, query), same);
    },
    async searchMessages(query) {
      const page = await inner.searchMessages(query);
      return { ...page, messages: await live(page.messages, same) };
    },
    async listUserConversations(userId) {
      const summaries = await inner.listUserConversations(userId);
      const last = summaries.flatMap((s) => (s.lastMessage ? [s.lastMessage] : []));
      const kept = new Set(await live(last, same));
      return summaries.map((s) =>
        s.lastMessage && !kept.has(s.lastMessage) ? { ...s, lastMessage: null } : s,
      );
    },
    async listOffline(userId, limit, after) {
      const out: StoredMessage[] = [];
      let from = after;
      for (let i = 0; i < MAX_REFILLS && out.length < limit; i++) {
        const want = limit - out.length;
        const page = await inner.listOffline(userId, want, from);
        out.push(...(await live(page, same)));
        if (page.length < want) break;
        from = page[page.length - 1]!.messageId;
      }
      return out;
    },
    async listLate(conversationId, sinceVisibleAt, limit) {
      const cutoff = await policy.cutoff(conversationId);
      const page = await inner.listLate(conversationId, sinceVisibleAt, limit);
      if (cutoff === null) return page;
      // Expired entries may sit anywhere (by visibility time): read on so a full page stays full.
      const out: LateMessage[] = page.filter((e) => e.message.createdAt >= cutoff);
      let raw = page;
      for (let i = 0; i < MAX_REFILLS && raw.length >= limit && out.length < limit; i++) {
        const last = raw[raw.length - 1]!;
        const seen = new Set(raw.map((e) => `${e.visibleAt}:${e.message.messageId}`));
        raw = await inner.listLate(conversationId, last.visibleAt, limit);
        const fresh = raw.filter((e) => !seen.has(`${e.visibleAt}:${e.message.messageId}`));
        if (fresh.length === 0) break;
        out.push(...fresh.filter((e) => e.message.createdAt >= cutoff));
      }
      return out.slice(0, limit);
    },
  });
}
