/**
 * The messages other messages refer to when shown: a reply's parent (its quote) and its thread's
 * root (the root's reply count, `rootThread`). Read when a frame is built, never copied into the
 * reply's row, so a quote shows the parent as it is now — edited, or deleted with no text — and a
 * deleted body survives nowhere (docs/architecture.md, "Replies and threads").
 */
import { mapLimit } from '../storage/common.ts';
import type { Storage, StoredMessage } from '../storage/types.ts';

/** The referenced messages by id; a missing id is one this region does not hold. */
export type Refs = ReadonlyMap<bigint, StoredMessage>;

/** Referenced messages read in flight at once for one page. */
const REF_READS = 16;

/** Characters (code points) of a parent's body a quote carries. */
export const QUOTE_CHARS = 100;

/** The ids `m` refers to: its parent and its root (none for a message that replies to nothing). */
export function refIds(m: StoredMessage): bigint[] {
  if (m.replyTo === undefined || m.replyTo === null) return [];
  return m.threadRoot !== undefined && m.threadRoot !== null && m.threadRoot !== m.replyTo
    ? [m.replyTo, m.threadRoot]
    : [m.replyTo];
}

/**
 * Reads what `messages` refer to, each once. `known` are messages already read (a thread's root,
 * the parent a send just checked) and are used as they are. Only replies cost reads.
 */
export async function readRefs(
  storage: Pick<Storage, 'getMessage'>,
  messages: readonly StoredMessage[],
  known: readonly StoredMessage[] = [],
): Promise<Refs> {
  const refs = new Map<bigint, StoredMessage>();
  for (const k of known) refs.set(k.messageId, k);
  const wanted = new Map<bigint, string>();
  for (const m of messages) for (const id of refIds(m)) if (!refs.has(id)) wanted.set(id, m.conversationId);
  const found = await mapLimit([...wanted], REF_READS, ([id, conv]) => storage.getMessage(conv, id));
  for (const m of found) if (m) refs.set(m.messageId, m);
  return refs;
}

/** A parent's body as quoted: its first QUOTE_CHARS code points. */
export function quote(body: string): string {
  if (body.length <= QUOTE_CHARS) return body;
  let out = '';
  let n = 0;
  for (const ch of body) {
    if (n++ === QUOTE_CHARS) break;
    out += ch;
  }
  return out;
}
