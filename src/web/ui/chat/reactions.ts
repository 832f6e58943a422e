/**
 * Reactions under a message bubble: one chip per emoji with its count (the title names who
 * reacted; a click adds or removes the user's own), and a button opening a small fixed picker.
 * What is shown comes from the message itself (`reactions`, kept current by the SDK's `update`
 * events); this only remembers which message's picker is open, since the list is rebuilt on
 * every render.
 */
import type { WireMessage } from '../../../client/index.ts';
import { h } from '../dom.ts';
import { reactedBy } from './format.ts';

/** The picker's emoji: a fixed handful, as the common chat apps offer first. */
export const PICKER_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢'] as const;

/** Adds (`add`) or removes the user's reaction; rejections are the caller's to show. */
export type ReactFn = (m: WireMessage, emoji: string, add: boolean) => Promise<unknown>;

export class ReactionsUi {
  /** The message whose picker is open, if any. */
  private pickerFor: string | null = null;

  constructor(
    private readonly me: string,
    private readonly react: ReactFn,
    private readonly rerender: () => void,
  ) {}

  /** The reaction row of a message, or null for a deleted one (it has no reactions). */
  node(m: WireMessage): HTMLElement | null {
    if (m.state?.deleted) return null;
    const entries = m.reactions?.entries ?? [];
    const chips = entries.map((e) => {
      const mine = e.users.includes(this.me);
      return h(
        'button',
        {
          class: `reaction${mine ? ' mine' : ''}`,
          type: 'button',
          'data-emoji': e.emoji,
          'aria-pressed': mine ? 'true' : 'false',
          title: `${reactedBy(e.users, this.me)} reacted with ${e.emoji}`,
          onclick: () => void this.react(m, e.emoji, !mine),
        },
        h('span', { class: 'reaction-emoji' }, e.emoji),
        h('span', { class: 'reaction-count' }, e.count),
      );
    });
    const open = this.pickerFor === m.id;
    const picker = open
      ? h(
          'span',
          { class: 'reaction-picker', role: 'menu' },
          PICKER_EMOJI.map((emoji) =>
            h(
              'button',
              {
                type: 'button',
                role: 'menuitem',
                'data-emoji': emoji,
                title: `React with ${emoji}`,
                onclick: () => {
                  this.pickerFor = null;
                  const already = entries.some((e) => e.emoji === emoji && e.users.includes(this.me));
                  // Picking one the user already has takes it back, as clicking its chip does.
                  void this.react(m, emoji, !already);
                  this.rerender();
                },
              },
              emoji,
            ),
          ),
        )
      : null;
    return h(
      'div',
      { class: `reactions${entries.length > 0 || open ? ' has-reactions' : ''}` },
      ...chips,
      h(
        'button',
        {
          class: 'reaction-add',
          type: 'button',
          'data-action': 'react',
          'aria-expanded': open ? 'true' : 'false',
          title: 'Add a reaction',
          onclick: () => {
            this.pickerFor = open ? null : m.id;
            this.rerender();
          },
        },
        '☺+',
      ),
      picker,
    );
  }
}
