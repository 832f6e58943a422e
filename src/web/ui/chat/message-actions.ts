/**
 * What the user can do to a message (reply and threads on any; edit and delete of their own,
 * with the browser's prompt and confirm: no editor of their own) and to a group's members. The
 * server checks every right again; a refusal shows as a toast.
 */
import type { ChatClient } from '../../../client/index.ts';
import type { ReactionsUi } from './reactions.ts';
import type { ChatStore } from './store.ts';
import type { UiState } from './ui-state.ts';
import type { MessageActions } from './view.ts';

export interface ActionDeps {
  client: ChatClient;
  store: ChatStore;
  ui: UiState;
  reactions: ReactionsUi;
  openThread(conversationId: string, rootId: string): void;
  focusComposer(): void;
  render(): void;
  toast(text: string): void;
}

/** The message bubbles' buttons in the main message list (the thread panel reuses them). */
export function messageActions(d: ActionDeps): MessageActions {
  return {
    reply: (m) => {
      d.ui.replyingTo = m;
      d.render();
      d.focusComposer();
    },
    openThread: (conversationId, rootId) => d.openThread(conversationId, rootId),
    canEdit: (m) => {
      const window = d.client.serverLimits?.editWindowMs;
      return window === undefined || Date.now() - m.createdAt <= window;
    },
    edit: (m) => {
      const body = window.prompt('Edit message', m.body);
      if (body === null || body === m.body || body.trim() === '') return;
      d.client.edit(m.conversationId, m.id, body).catch((err: unknown) => d.toast((err as Error).message));
    },
    remove: (m) => {
      if (!window.confirm('Delete this message for everyone?')) return;
      d.client.delete(m.conversationId, m.id).catch((err: unknown) => d.toast((err as Error).message));
    },
    reactions: (m) => d.reactions.node(m),
  };
}

/** Asks whom to remove from a group this user moderates; the server checks the roles. */
export function removeMember(d: ActionDeps, conversationId: string): void {
  const userId = window.prompt('Remove which member?')?.trim();
  if (!userId) return;
  d.client
    .removeMembers(conversationId, [userId])
    .then((conv) => {
      d.store.upsert(conv);
      d.render();
    })
    .catch((err: unknown) => d.toast((err as Error).message));
}
