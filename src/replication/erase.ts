/**
 * Deleted content leaves the replication streams too: a message's events (its body, its edits'
 * bodies, reactions carrying it) and an attachment's (its bytes, its name) are named by an item
 * when published (`contentItem`, `attachmentItem`), and erased by that item from this region's
 * outbox and inbox when the content is deleted here (`link.ts`, `erase`). Every region does the
 * same when it applies the delete, so no region's streams keep the content.
 */
import type { AttachmentMeta } from '../storage/attachments.ts';
import type { StoredMessage } from '../storage/types.ts';
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

export class StreamEraser {
  constructor(private readonly link: Pick<CrossRegionLink, 'erase' | 'eraseInboxEvent'>) {}

  /** Erases every event carrying the messages' content here; returns how many were erased. */
  messages(messages: readonly Pick<StoredMessage, 'messageId' | 'createdAt'>[]): Promise<number> {
    return this.link.erase(
      messages.map((m) => ({ item: messageItem(m.messageId), since: m.createdAt - CLOCK_MARGIN_MS })),
    );
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
    return this.link.erase(items);
  }

  /** Erases one inbox event (applied here over content already deleted). */
  inboxEvent(seq: number): Promise<void> {
    return this.link.eraseInboxEvent(seq);
  }
}
