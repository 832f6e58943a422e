/**
 * The main composer's behaviour: sending what was typed to the open conversation (as a reply
 * when its Reply button chose a message), sending a picked file with the typed text, and typing
 * indicators. The SDK queues a send in its outbox, so a send while offline goes out on reconnect.
 */
import { type ChatClient, ChatClientError } from '../../../client/index.ts';
import { $ } from '../dom.ts';
import { autosize } from './shell.ts';
import type { ChatStore } from './store.ts';
import type { UiState } from './ui-state.ts';

/** Typing indicators are sent at most this often per conversation (the server coalesces too). */
const TYPING_EVERY_MS = 1500;

export class Composer {
  /** When a typing indicator was last sent, per conversation. */
  private readonly typingSentAt = new Map<string, number>();

  constructor(
    private readonly root: HTMLElement,
    private readonly client: ChatClient,
    private readonly store: ChatStore,
    private readonly ui: UiState,
    private readonly toast: (text: string) => void,
  ) {}

  focus(): void {
    this.input().focus();
  }

  /** The composer's form was submitted: its text goes to the open conversation. */
  submit(): void {
    const input = this.input();
    const body = input.value;
    if (body.trim() === '') return;
    input.value = '';
    autosize(input);
    this.send(body);
  }

  /** Sends `body` to a conversation (the thread panel's replies come here too). */
  sendTo(id: string, body: string, replyTo?: string): void {
    this.ui.stickToBottom = true;
    this.typingSentAt.delete(id);
    this.client.send(id, body, replyTo !== undefined ? { replyTo } : {}).catch((err: unknown) => {
      if (err instanceof ChatClientError && err.code === 'closed') return;
      this.toast(`Message not sent: ${(err as Error).message}`);
    });
  }

  /** Uploads a picked file, then sends it to the open conversation with the composer's text. */
  async attach(file: File): Promise<void> {
    const id = this.store.activeId;
    if (id === null) return;
    const input = this.input();
    const body = input.value.trim() === '' ? '' : input.value;
    input.value = '';
    autosize(input);
    this.ui.stickToBottom = true;
    try {
      const att = await this.client.uploadAttachment(id, file, {
        contentType: file.type || 'application/octet-stream',
        name: file.name,
      });
      this.store.uploaded.set(att.id, att);
      await this.client.send(id, body, { attachments: [att.id] });
    } catch (err) {
      if (err instanceof ChatClientError && err.code === 'closed') return;
      const why =
        err instanceof ChatClientError && err.code === 'too_large'
          ? 'the file is too large'
          : err instanceof ChatClientError && err.code === 'unsupported_type'
            ? 'this kind of file cannot be sent'
            : (err as Error).message;
      this.toast(`${file.name} not sent: ${why}`);
    }
  }

  /** The user typed in the composer: the open conversation hears of it, at most so often. */
  typing(): void {
    const id = this.store.activeId;
    if (id === null) return;
    const now = Date.now();
    if (now - (this.typingSentAt.get(id) ?? 0) < TYPING_EVERY_MS) return;
    this.typingSentAt.set(id, now);
    this.client.typing(id).catch(() => {});
  }

  private send(body: string): void {
    const id = this.store.activeId;
    if (id === null || body.trim() === '') return;
    const replyTo = this.ui.replyingTo?.conversationId === id ? this.ui.replyingTo.id : undefined;
    this.ui.replyingTo = null;
    this.sendTo(id, body, replyTo);
  }

  private input(): HTMLTextAreaElement {
    return $('#composer-input', this.root) as HTMLTextAreaElement;
  }
}
