/** The signed-in page's static structure; `ChatApp` fills it and re-renders its parts. */
import { h } from '../dom.ts';
import { avatar } from './view.ts';

/** What the page's controls do. */
export interface ShellActions {
  startDirect(userId: string): Promise<void>;
  createGroup(title: string, members: string[]): Promise<void>;
  submit(): void;
  typing(): void;
  /** The message list scrolled (to stick to the bottom, or to load older messages at the top). */
  scrolled(el: HTMLElement): void;
  signOut(): void;
  togglePanel(): void;
  /** A file was picked to send to the open conversation. */
  attach(file: File): void;
}

export function buildShell(me: string, a: ShellActions): HTMLElement {
  const form = (
    label: string,
    fields: HTMLElement[],
    submit: string,
    action: (data: FormData) => Promise<void>,
    name: string,
  ) => {
    const error = h('div', { class: 'form-error', role: 'alert' });
    const el = h(
      'form',
      {
        class: 'panel-form',
        'data-form': name,
        onsubmit: (e: Event) => {
          e.preventDefault();
          error.textContent = '';
          const f = e.currentTarget as HTMLFormElement;
          action(new FormData(f)).then(
            () => f.reset(),
            (err: unknown) => {
              error.textContent = err instanceof Error ? err.message : String(err);
            },
          );
        },
      },
      h('h3', null, label),
      ...fields,
      h('button', { type: 'submit', class: 'primary' }, submit),
      error,
    );
    return el;
  };
  const panel = h(
    'div',
    { class: 'new-panel', id: 'new-panel', hidden: true },
    form(
      'Direct message',
      [h('input', { name: 'user', placeholder: 'User id, e.g. bob', autocomplete: 'off', required: true })],
      'Start chat',
      (d) => a.startDirect(String(d.get('user') ?? '').trim()),
      'direct',
    ),
    form(
      'New group',
      [
        h('input', { name: 'title', placeholder: 'Group name', autocomplete: 'off', required: true }),
        h('input', { name: 'members', placeholder: 'Members: bob, carol', autocomplete: 'off' }),
      ],
      'Create group',
      (d) =>
        a.createGroup(
          String(d.get('title') ?? ''),
          String(d.get('members') ?? '')
            .split(/[\s,]+/)
            .filter(Boolean),
        ),
      'group',
    ),
  );
  const input = h('textarea', {
    id: 'composer-input',
    rows: 1,
    placeholder: 'Write a message…',
    'aria-label': 'Message',
    onkeydown: (e: Event) => {
      const k = e as KeyboardEvent;
      if (k.key === 'Enter' && !k.shiftKey && !k.isComposing) {
        e.preventDefault();
        a.submit();
      }
    },
    oninput: () => {
      autosize(input);
      if (input.value.trim() !== '') a.typing();
    },
  });
  const fileInput = h('input', {
    type: 'file',
    id: 'attach-input',
    hidden: true,
    onchange: () => {
      for (const file of Array.from(fileInput.files ?? [])) a.attach(file);
      fileInput.value = '';
    },
  });
  const messages = h('div', {
    id: 'messages',
    class: 'messages',
    onscroll: () => {
      const el = messages;
      a.scrolled(el);
    },
  });
  return h(
    'div',
    { class: 'chat' },
    h(
      'aside',
      { class: 'sidebar' },
      h(
        'header',
        { class: 'sidebar-head' },
        avatar(me),
        h(
          'div',
          { class: 'me' },
          h(
            'div',
            { class: 'me-row' },
            h('span', { class: 'me-name', id: 'me' }, me),
            h(
              'button',
              {
                class: 'link sign-out',
                id: 'sign-out',
                type: 'button',
                onclick: () => a.signOut(),
              },
              'Sign out',
            ),
          ),
          h('div', { id: 'conn', class: 'conn', 'data-state': 'connecting' }),
        ),
        h(
          'button',
          {
            class: 'icon-btn',
            id: 'new-chat',
            title: 'New conversation',
            'aria-label': 'New conversation',
            onclick: () => a.togglePanel(),
          },
          '+',
        ),
      ),
      panel,
      h('ul', { id: 'conversations', class: 'conv-list' }),
    ),
    h(
      'section',
      { class: 'pane', id: 'pane' },
      h('div', { class: 'offline-bar', id: 'offline-bar', hidden: true }),
      h('header', { class: 'pane-head', id: 'pane-head' }),
      messages,
      h('div', { class: 'typing', id: 'typing', 'aria-live': 'polite' }),
      h('div', { class: 'reply-bar', id: 'reply-bar', hidden: true }),
      h(
        'form',
        {
          class: 'composer',
          id: 'composer',
          onsubmit: (e: Event) => {
            e.preventDefault();
            a.submit();
          },
        },
        fileInput,
        h(
          'button',
          {
            type: 'button',
            class: 'icon-btn attach',
            id: 'attach',
            title: 'Attach a file',
            'aria-label': 'Attach a file',
            onclick: () => fileInput.click(),
          },
          '📎',
        ),
        input,
        h('button', { type: 'submit', class: 'send', id: 'send', 'aria-label': 'Send' }, 'Send'),
      ),
      h(
        'div',
        { class: 'empty-pane', id: 'empty-pane' },
        h('img', { class: 'empty-icon', src: '/assets/favicon.svg', alt: '' }),
        h('h2', null, `Hi ${me}`),
        h('p', null, 'Pick a conversation, or start one with the + button.'),
      ),
    ),
    h('div', { class: 'toast', id: 'toast', role: 'status', hidden: true }),
  );
}

/** Grows the composer with its text, up to a limit. */
export function autosize(el: HTMLTextAreaElement): void {
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
}
