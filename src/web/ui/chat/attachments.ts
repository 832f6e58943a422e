/**
 * Attached files in the message list. An `<img src>` cannot send the user's token, so each file
 * is downloaded through the SDK (with `Authorization`) and shown from a blob URL: once per id
 * while the session lives, all revoked at sign-out. Images are laid out at their size before
 * they load, so the list does not jump.
 */
import type { ChatClient, WireAttachment } from '../../../client/index.ts';
import { h } from '../dom.ts';

/** Widest an image is shown in a bubble (CSS pixels). */
const MAX_IMAGE_WIDTH = 240;

export interface AttachmentFilesEvents {
  /** A file finished loading (an image shows by itself; previews may change). */
  loaded(): void;
  failed(text: string): void;
}

export class AttachmentFiles {
  private readonly urls = new Map<string, string | 'loading' | 'failed'>();
  /**
   * One element per image, reused by every render (the list is rebuilt often): a new element
   * would decode the image again and flicker.
   */
  private readonly images = new Map<string, HTMLImageElement>();

  constructor(
    private readonly client: ChatClient,
    private readonly on: AttachmentFilesEvents,
  ) {}

  /** An attached file in a bubble: an image in place, anything else as a download button. */
  node(a: WireAttachment): HTMLElement {
    if (a.contentType.startsWith('image/')) {
      const known = this.images.get(a.id);
      if (known) return known;
      const width = Math.min(a.width ?? MAX_IMAGE_WIDTH, MAX_IMAGE_WIDTH);
      const height = a.width && a.height ? Math.round((a.height * width) / a.width) : 160;
      const img = h('img', {
        class: 'attachment-img',
        'data-attachment': a.id,
        alt: a.name ?? 'image',
        width,
        height,
        src: this.urlOf(a.id),
      });
      this.images.set(a.id, img);
      return img;
    }
    return h(
      'button',
      {
        type: 'button',
        class: 'link attachment-file',
        'data-attachment': a.id,
        onclick: () => void this.save(a),
      },
      `📄 ${a.name ?? 'file'} (${Math.ceil(a.size / 1024)} KB)`,
    );
  }

  /** Drops one file (its message was deleted): its blob URL is revoked. */
  forget(id: string): void {
    const url = this.urls.get(id);
    if (url?.startsWith('blob:')) URL.revokeObjectURL(url);
    this.urls.set(id, 'failed');
    this.images.delete(id);
  }

  /** Revokes every blob URL (sign-out). */
  clear(): void {
    for (const url of this.urls.values()) if (url.startsWith('blob:')) URL.revokeObjectURL(url);
    this.urls.clear();
    this.images.clear();
  }

  /** The blob URL of a downloaded file, or null while it loads (`loaded` fires then). */
  private urlOf(id: string): string | null {
    const known = this.urls.get(id);
    if (known === undefined) {
      this.urls.set(id, 'loading');
      this.client.downloadAttachment(id).then(
        (blob) => {
          const url = URL.createObjectURL(blob);
          this.urls.set(id, url);
          const img = this.images.get(id);
          if (img) img.src = url;
          this.on.loaded();
        },
        // Shown as an empty frame of the image's size; not retried on every render.
        () => this.urls.set(id, 'failed'),
      );
      return null;
    }
    return known === 'loading' || known === 'failed' ? null : known;
  }

  private async save(a: WireAttachment): Promise<void> {
    try {
      const url = URL.createObjectURL(await this.client.downloadAttachment(a.id));
      h('a', { href: url, download: a.name ?? 'file' }).click();
      // Long enough for the browser to start the download.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      this.on.failed(`Download failed: ${(err as Error).message}`);
    }
  }
}
