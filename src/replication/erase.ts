/**
 * Deleted content leaves the replication streams too: a message's events (its body, its edits'
 * bodies, reactions carrying it) and an attachment's (its bytes, its name) are named by an item
 * when published (`contentItem`, `attachmentItem`), and erased by that item from this region's
 * outbox and inbox when the content is deleted here (`link.ts`, `erase`). Every region does the
 * same when it applies the delete, so no region's streams keep the content.
 */

import { randomUUID } from 'node:crypto';
import type { AttachmentMeta } from '../storage/attachments.ts';
import type { StoredMessage } from '../storage/types.ts';
import { encodeEvent } from './events.ts';
import type { CrossRegionLink, ErasableItem } from './link.ts';

/**
 * How far before a message's own time its events are looked for: the events of a message are
 * published after its id was made, but the id comes from a gateway's clock and the stream's
 * times from a NATS server's; 10 minutes covers any skew a healthy deployment has.
 */
const CLOCK_MARGIN_MS = 10 * 60_000;
/**
 * An attachment's chunks are published between the start of its upload and its commit (at most
 * the upload timeout apart); an hour before the commit covers any upload timeout that is sane.
 */
const UPLOAD_MARGIN_MS = 60 * 60_000;

export const messageItem = (messageId: bigint) => `m${messageId}`;
export const attachmentItem = (attachmentId: string) => `a${attachmentId}`;

/** The item of a message's event: its id while it has content to erase, else none. */
export function contentItem(m: StoredMessage): string | undefined {
  if (m.state?.deleted) return undefined;
  if (m.body === '' && !(m.attachments && m.attachments.length > 0)) return undefined;
  return messageItem(m.messageId);
}

/** The key erase notes are applied under: one after another, apart from every conversation. */
const NOTE_KEY = 'erase';

export class StreamEraser {
  constructor(
    private readonly link: Pick<CrossRegionLink, 'erase' | 'eraseInboxEvent'> &
      Partial<Pick<CrossRegionLink, 'publishToSelf'>>,
  ) {}

  /**
   * Erases every event carrying the messages' content here; returns how many were erased (0 when
   * the erase was deferred, see `eraseOrNote`).
   */
  messages(messages: readonly Pick<StoredMessage, 'messageId' | 'createdAt'>[]): Promise<number> {
    return this.eraseOrNote(
      messages.map((m) => ({ item: messageItem(m.messageId), since: m.createdAt - CLOCK_MARGIN_MS })),
    );
  }

  /** Erases now; throws when the streams refuse (what applying an erase note calls, retried). */
  now(items: readonly ErasableItem[]): Promise<number> {
    return this.link.erase(items);
  }

  /**
   * Erases, or — when the streams refuse a delete, as nats-server 2.9 does while a two-region
   * deployment's other region is cut off (no JetStream meta leader) — publishes an erase note to
   * this region itself and resolves: the note is stored in the outbox (which still accepts
   * publishes), sourced into this region's inbox and applied by its consumer, retrying until the
   * erase succeeds. A delete is then answered without waiting for the other region to return,
   * and the erase still happens, durably. Throws only when the note cannot be published either.
   */
  private async eraseOrNote(items: readonly ErasableItem[]): Promise<number> {
    try {
      return await this.link.erase(items);
    } catch (err) {
      if (!this.link.publishToSelf) throw err;
      await this.link.publishToSelf(
        encodeEvent({ k: 'xe', items: [...items] }),
        `xe:${randomUUID()}`,
        NOTE_KEY,
      );
      return 0;
    }
  }

  /**
   * Erases every event carrying the attachments' bytes or metadata here. An id whose metadata is
   * gone (`null`: deleted here before) is looked for over the streams' whole age.
   */
  attachments(
    found: readonly { id: string; meta: Pick<AttachmentMeta, 'createdAt'> | null }[],
  ): Promise<number> {
    const items: ErasableItem[] = found.map(({ id, meta }) => ({
      item: attachmentItem(id),
      since: meta ? meta.createdAt - UPLOAD_MARGIN_MS - CLOCK_MARGIN_MS : 0,
    }));
    return this.eraseOrNote(items);
  }

  /** Erases one inbox event (applied here over content already deleted). */
  inboxEvent(seq: number): Promise<void> {
    return this.link.eraseInboxEvent(seq);
  }
}
