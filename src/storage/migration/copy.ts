/**
 * Copying and comparing one conversation's (or one user's) rows between two stores, through the
 * `Storage` interface only, so any pair of store kinds works. Every write is an idempotent upsert
 * keyed by id (`putReplica`, `addMembers`, `markRead` forward only, last-writer-wins registers),
 * so copying a row that a mirrored write already stored, or copying twice, changes nothing.
 *
 * Registers whose revision the interface does not expose (a group's admins and bans, blocks,
 * mutes, a retention setting) are copied with the smallest revision: any write made since
 * dual-writing began carries a real, larger one and wins on the new store.
 */
import { createHash } from 'node:crypto';
import { chunkCount } from '../attachments.ts';
import { MAX_HISTORY_LIMIT, type Storage, type StoredMessage } from '../types.ts';
import { canonical, sortedCanonical } from './compare.ts';

/** Revision of a register copied without its own (smaller than any snowflake). */
const COPIED_REVISION = 1n;
/** Who a copied ban is recorded as made by. */
export const COPIED_BY = 'store-migration';
const PAGE = MAX_HISTORY_LIMIT;

/** Every message of a conversation, change records included, oldest first. */
export async function* allMessages(store: Storage, conversationId: string): AsyncGenerator<StoredMessage> {
  // Oldest first from id 0 (a query without `after` reads the newest page, newest first): a
  // reply or reaction is copied after the message it hangs off, which must be stored first.
  let after = 0n;
  for (;;) {
    const page = await store.getHistory(conversationId, { limit: PAGE, includeChanges: true, after });
    yield* page;
    const last = page[page.length - 1];
    if (page.length < PAGE || !last) return;
    after = last.messageId;
  }
}

/** Every entry of a user's offline queue, oldest first. */
export async function allOffline(store: Storage, userId: string): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  let after: bigint | undefined;
  for (;;) {
    const page = await store.listOffline(userId, PAGE, after);
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page[page.length - 1]?.messageId;
  }
}

/** Every late-index entry of a conversation (a page boundary inside one `visibleAt` is read again and merged). */
export async function allLate(store: Storage, conversationId: string): Promise<string[]> {
  const seen = new Set<string>();
  let since = 0;
  for (;;) {
    const page = await store.listLate(conversationId, since, PAGE);
    const before = seen.size;
    for (const e of page) seen.add(canonical({ visibleAt: e.visibleAt, message: e.message }));
    const last = page[page.length - 1];
    if (page.length < PAGE || !last || seen.size === before) return [...seen].sort();
    since = last.visibleAt;
  }
}

/** What one copy wrote. */
export interface CopyCounts {
  messages: number;
  members: number;
  readMarkers: number;
  late: number;
  attachments: number;
  offline: number;
}

export function zeroCounts(): CopyCounts {
  return { messages: 0, members: 0, readMarkers: 0, late: 0, attachments: 0, offline: 0 };
}

/** Copies one attachment's bytes and metadata, unless the target already has it committed. */
async function copyAttachment(from: Storage, to: Storage, id: string): Promise<boolean> {
  const meta = await from.attachments.get(id);
  if (!meta || (await to.attachments.get(id))) return false;
  const upload = { id, conversationId: meta.conversationId, startedAt: meta.createdAt };
  await to.attachments.begin(upload);
  for (let i = 0; i < chunkCount(meta.size, meta.chunkSize); i++) {
    const chunk = await from.attachments.readChunk(id, i);
    if (!chunk) return false; // deleted while copied: its delete was mirrored too
    await to.attachments.putChunk(upload, i, chunk);
  }
  await to.attachments.commit(upload, meta);
  return true;
}

/** Copies one message and what hangs off it (thread index, reactions by replaying its records, files). */
export async function copyMessage(from: Storage, to: Storage, m: StoredMessage): Promise<number> {
  await to.putReplica(m);
  if (m.threadRoot !== undefined && m.threadRoot !== null) await to.addThreadReply(m);
  const c = m.change;
  if (c && (c.kind === 'react' || c.kind === 'unreact') && c.emoji !== undefined) {
    await to.applyReaction({
      conversationId: m.conversationId,
      targetId: c.targetId,
      emoji: c.emoji,
      userId: m.senderId,
      on: c.kind === 'react',
      revision: m.messageId,
    });
  }
  let files = 0;
  for (const ref of m.attachments ?? []) if (await copyAttachment(from, to, ref.id)) files++;
  return files;
}

/** Copies a conversation: its row, members, settings, messages, late index and members' read markers. */
export async function copyConversation(
  from: Storage,
  to: Storage,
  id: string,
  counts: CopyCounts,
): Promise<string[]> {
  const conv = await from.getConversation(id);
  if (!conv) return [];
  const members = await from.listMembers(id);
  await to.createConversation(conv, members);
  await to.addMembers(id, members);
  counts.members += members.length;
  const retention = await from.retention.getConversationRetention(id);
  if (retention !== null) await to.retention.setConversationRetention(id, retention, 0);
  const group = await from.moderation.getGroup(id);
  for (const userId of group.admins) {
    await to.moderation.setRole({ conversationId: id, userId, role: 'admin', revision: COPIED_REVISION });
  }
  for (const userId of group.banned) {
    await to.moderation.setBan({
      conversationId: id,
      userId,
      banned: true,
      by: COPIED_BY,
      revision: COPIED_REVISION,
    });
  }
  for await (const m of allMessages(from, id)) {
    counts.attachments += await copyMessage(from, to, m);
    counts.messages++;
  }
  let since = 0;
  for (;;) {
    const page = await from.listLate(id, since, PAGE);
    for (const e of page) await to.recordLate(e.message, e.visibleAt);
    counts.late += page.length;
    const last = page[page.length - 1];
    if (page.length < PAGE || !last || last.visibleAt === since) break;
    since = last.visibleAt;
  }
  for (const userId of members) {
    const marker = await from.getReadMarker(userId, id);
    if (marker !== null) {
      await to.markRead(userId, id, marker);
      counts.readMarkers++;
    }
  }
  return members;
}

/** Copies what a store keeps per user: offline queue, mutes, blocks. */
export async function copyUser(
  from: Storage,
  to: Storage,
  userId: string,
  counts: CopyCounts,
): Promise<void> {
  const queued = await allOffline(from, userId);
  if (queued.length > 0) await to.enqueueOffline(userId, queued);
  counts.offline += queued.length;
  for (const conversationId of await from.mutes.listMuted(userId)) {
    await to.mutes.set({ userId, conversationId, muted: true, at: 0 });
  }
  for (const targetId of await from.moderation.listBlocked(userId)) {
    await to.moderation.setBlock({ userId, targetId, blocked: true, revision: COPIED_REVISION });
  }
}

/** One row (or set of rows) that differs between the stores, named so an operator can find it. */
export interface Difference {
  /** `conversation`, `members`, `message`, `messages`, `readMarker`, `late`, `attachment`, `offline`, `mutes`, `blocks`, `revocations`, `homeMoves`, `erasures`, `moderation`, `retention`, `unread`. */
  kind: string;
  /** Conversation id, `user/conversation`, `conversation/messageId`, user id… */
  key: string;
  old: string | null;
  new: string | null;
}

function diff(out: Difference[], kind: string, key: string, a: string | null, b: string | null): void {
  if (a !== b) out.push({ kind, key, old: a, new: b });
}

/** Hash of an attachment's metadata and bytes, or null when the store has none. */
async function attachmentDigest(store: Storage, id: string): Promise<string | null> {
  const meta = await store.attachments.get(id);
  if (!meta) return null;
  const hash = createHash('sha256').update(canonical(meta));
  for (let i = 0; i < chunkCount(meta.size, meta.chunkSize); i++) {
    const chunk = await store.attachments.readChunk(id, i);
    hash.update(chunk ? Buffer.from(chunk) : Buffer.from(`missing ${i}`));
  }
  return hash.digest('hex');
}

/**
 * Reads the same thing from both stores, the new one first. While the old store is
 * authoritative it is written first, so whatever the new store holds, the old held already when
 * it is read a moment later: a write in flight can only show as missing on the new store (which
 * settles), never as an extra there.
 */
async function newFirst<T>(a: Storage, b: Storage, f: (s: Storage) => Promise<T>): Promise<[T, T]> {
  const onNew = await f(b);
  return [await f(a), onNew];
}

/** Compares a conversation on both stores: ids and content of every row the copy writes. */
export async function compareConversation(a: Storage, b: Storage, id: string): Promise<Difference[]> {
  const out: Difference[] = [];
  const [ca, cb] = await newFirst(a, b, (s) => s.getConversation(id));
  diff(out, 'conversation', id, ca && canonical(ca), cb && canonical(cb));
  if (!ca) return out;
  const [ma, mb] = await newFirst(a, b, (s) => s.listMembers(id));
  diff(out, 'members', id, sortedCanonical(ma), sortedCanonical(mb));
  const [ga, gb] = await newFirst(a, b, (s) => s.moderation.getGroup(id));
  diff(out, 'moderation', id, canonical(ga), canonical(gb));
  const [ra, rb] = await newFirst(a, b, (s) => s.retention.getConversationRetention(id));
  diff(out, 'retention', id, canonical(ra), canonical(rb));
  const byId = async (s: Storage) => {
    const map = new Map<string, string>();
    for await (const m of allMessages(s, id)) map.set(m.messageId.toString(), canonical(m));
    return map;
  };
  const [xa, xb] = await newFirst(a, b, byId);
  for (const [mid, text] of xa) diff(out, 'message', `${id}/${mid}`, text, xb.get(mid) ?? null);
  for (const [mid, text] of xb) if (!xa.has(mid)) diff(out, 'message', `${id}/${mid}`, null, text);
  const files = new Set<string>();
  for (const text of xa.values()) {
    const m = JSON.parse(text) as { attachments?: Array<{ id: string }> };
    for (const ref of m.attachments ?? []) files.add(ref.id);
  }
  for (const fid of files) {
    const [da, db] = await newFirst(a, b, (s) => attachmentDigest(s, fid));
    diff(out, 'attachment', `${id}/${fid}`, da, db);
  }
  const [la, lb] = await newFirst(a, b, (s) => allLate(s, id));
  diff(out, 'late', id, canonical(la), canonical(lb));
  for (const userId of ma) {
    const [pa, pb] = await newFirst(a, b, (s) => s.getReadMarker(userId, id));
    diff(out, 'readMarker', `${userId}/${id}`, canonical(pa), canonical(pb));
  }
  return out;
}

/**
 * Compares what a store keeps per user (each offline-queue entry on its own, so a queue that
 * moves under traffic shows only the entries in flight) and the unread state the user sees in
 * each conversation.
 */
export async function compareUser(a: Storage, b: Storage, userId: string): Promise<Difference[]> {
  const out: Difference[] = [];
  const byId = async (s: Storage) =>
    new Map((await allOffline(s, userId)).map((m) => [m.messageId.toString(), canonical(m)]));
  const [qa, qb] = await newFirst(a, b, byId);
  for (const [mid, text] of qa) diff(out, 'offline', `${userId}/${mid}`, text, qb.get(mid) ?? null);
  for (const [mid, text] of qb) if (!qa.has(mid)) diff(out, 'offline', `${userId}/${mid}`, null, text);
  const [ua, ub] = await newFirst(a, b, (s) => s.mutes.listMuted(userId));
  diff(out, 'mutes', userId, sortedCanonical(ua), sortedCanonical(ub));
  const [ba, bb] = await newFirst(a, b, (s) => s.moderation.listBlocked(userId));
  diff(out, 'blocks', userId, sortedCanonical(ba), sortedCanonical(bb));
  const unread = async (s: Storage) =>
    new Map(
      (await s.listUserConversations(userId)).map((c) => [
        c.conversation.id,
        canonical({
          unread: c.unreadCount,
          lastReadId: c.lastReadId,
          last: c.lastMessage?.messageId ?? null,
        }),
      ]),
    );
  const [na, nb] = await newFirst(a, b, unread);
  for (const [cid, text] of na) diff(out, 'unread', `${userId}/${cid}`, text, nb.get(cid) ?? null);
  for (const [cid, text] of nb) if (!na.has(cid)) diff(out, 'unread', `${userId}/${cid}`, null, text);
  return out;
}

/**
 * Makes the target's offline queue and members match the source's where they have more (an
 * entry acked, or a member removed, while the copy read the source): the copy only adds, so
 * extras can only be removed here. The target is read first: an entry enqueued in between is on
 * the source by the time it is read (written there first), so it is never taken for an extra.
 */
export async function trimExtras(
  from: Storage,
  to: Storage,
  kind: 'offline' | 'members',
  key: string,
): Promise<void> {
  if (kind === 'offline') {
    const onTarget = (await allOffline(to, key)).map((m) => m.messageId);
    const keep = new Set((await allOffline(from, key)).map((m) => m.messageId));
    const extra = onTarget.filter((id) => !keep.has(id));
    if (extra.length > 0) await to.ackOffline(key, extra);
  } else {
    const onTarget = await to.listMembers(key);
    const keep = new Set(await from.listMembers(key));
    const extra = onTarget.filter((u) => !keep.has(u));
    if (extra.length > 0) await to.removeMembers(key, extra);
  }
}
