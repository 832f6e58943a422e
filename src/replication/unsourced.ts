/**
 * How many events one region's outbox holds for another that the other's inbox has not sourced
 * yet, read from the streams' contents rather than from the inbox's source `lag`.
 *
 * nats-server 2.9 sets a source's `lag` from the pending count carried by the last message the
 * source consumer delivered, and that count can drift: after a region's NATS restarted, we saw an
 * inbox report a lag of 4 for minutes while it held every one of the 837 events its peer's outbox
 * had for it (and the lag never came back to 0 while traffic flowed). A figure operators watch, and
 * that the fault suite waits on, must not depend on it.
 *
 * So: the outbox's last event for the destination (`last_by_subj` on `xr.<src>.to.<dst>.>`) against
 * the origin sequence of the last event the inbox sourced from it (the `Nats-Stream-Source`
 * header, "<source index name> <origin seq>"). Equal means nothing is waiting, exactly. Behind, the
 * count is the difference between the two streams' holdings on that filter (at least 1): erasing
 * deletes an item's events from both sides, so the holdings agree once everything is sourced.
 */
import type { JetStreamManager, StoredMsg } from 'nats';
import { inboxStream, outboxStream } from './link.ts';

const SOURCE_HEADER = 'Nats-Stream-Source';

const isNotFound = (err: unknown): boolean =>
  err instanceof Error && /no message found|not found|10037/i.test(err.message);

async function lastOn(jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | null> {
  try {
    return await jsm.streams.getMessage(stream, { last_by_subj: subject });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** The origin sequence a sourced message came from, or 0 if the header is missing or unreadable. */
export function originSeq(header: string | undefined): number {
  const seq = Number(header?.trim().split(/\s+/).at(-1));
  return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
}

async function holding(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0);
}

/** Events `src`'s outbox holds for `dst` that `dst`'s inbox has not sourced (0 when caught up). */
export async function unsourced(jsm: JetStreamManager, src: string, dst: string): Promise<number> {
  const subject = `xr.${src}.to.${dst}.>`;
  const [published, sourced] = await Promise.all([
    lastOn(jsm, outboxStream(src), subject),
    lastOn(jsm, inboxStream(dst), subject),
  ]);
  if (published === null) return 0;
  if (sourced !== null && originSeq(sourced.header.get(SOURCE_HEADER)) >= published.seq) return 0;
  const [out, inn] = await Promise.all([
    holding(jsm, outboxStream(src), subject),
    holding(jsm, inboxStream(dst), subject),
  ]);
  return Math.max(1, out - inn);
}
