/**
 * The sidebar's search box: finds the user's messages by their words (`ChatClient.search`),
 * newest first, a page at a time ("More" follows `nextBefore`), and opens a hit's conversation.
 * The query's words are marked in each hit, split exactly as the server splits them.
 */
import type { SearchResult, WireMessage } from '../../../client/index.ts';
import { searchTerms } from '../../../protocol/search.ts';
import { h } from '../dom.ts';
import { shortWhen } from './format.ts';

export interface SearchActions {
  search(query: string, before: string | null): Promise<SearchResult>;
  /** The conversation's name as the list shows it. */
  titleOf(conversationId: string): string;
  open(conversationId: string): void;
}

export class SearchBox {
  readonly el: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly results: HTMLElement;
  private readonly status: HTMLElement;
  private readonly more: HTMLButtonElement;
  private query = '';
  private nextBefore: string | null = null;
  /** Bumped by every new query, so a late answer to an older one is dropped. */
  private generation = 0;

  constructor(private readonly a: SearchActions) {
    this.input = h('input', {
      type: 'search',
      id: 'search-input',
      placeholder: 'Search messages',
      'aria-label': 'Search messages',
      autocomplete: 'off',
      maxlength: 200,
      onkeydown: (e: Event) => {
        if ((e as KeyboardEvent).key === 'Escape') this.clear();
      },
      oninput: () => {
        if (this.input.value.trim() === '') this.clear();
      },
    });
    this.status = h('div', { class: 'search-status', id: 'search-status', 'aria-live': 'polite' });
    this.results = h('ul', { class: 'search-results', id: 'search-results' });
    this.more = h(
      'button',
      {
        type: 'button',
        class: 'link search-more',
        id: 'search-more',
        hidden: true,
        onclick: () => void this.page(),
      },
      'More results',
    );
    this.el = h(
      'div',
      { class: 'search' },
      h(
        'form',
        {
          role: 'search',
          onsubmit: (e: Event) => {
            e.preventDefault();
            void this.start(this.input.value);
          },
        },
        this.input,
      ),
      h(
        'div',
        { class: 'search-panel', id: 'search-panel', hidden: true },
        this.status,
        this.results,
        this.more,
      ),
    );
  }

  private panel(): HTMLElement {
    return this.el.querySelector<HTMLElement>('#search-panel')!;
  }

  clear(): void {
    this.generation++;
    this.query = '';
    this.nextBefore = null;
    this.results.replaceChildren();
    this.status.textContent = '';
    this.more.hidden = true;
    this.panel().hidden = true;
  }

  private async start(text: string): Promise<void> {
    this.clear();
    if (searchTerms(text).length === 0) return;
    this.query = text;
    this.panel().hidden = false;
    await this.page();
  }

  private async page(): Promise<void> {
    const generation = this.generation;
    this.status.textContent = 'Searching…';
    this.more.hidden = true;
    try {
      const page = await this.a.search(this.query, this.nextBefore);
      if (generation !== this.generation) return;
      this.nextBefore = page.nextBefore;
      this.results.append(...page.messages.map((m) => this.hit(m)));
      const count = this.results.childElementCount;
      this.status.textContent = count === 0 && !page.nextBefore ? 'No messages found' : '';
      this.more.hidden = page.nextBefore === null;
    } catch (err) {
      if (generation !== this.generation) return;
      this.status.textContent = `Search failed: ${(err as Error).message}`;
    }
  }

  private hit(m: WireMessage): HTMLElement {
    return h(
      'li',
      {
        class: 'search-hit',
        'data-conversation': m.conversationId,
        'data-id': m.id,
        tabindex: 0,
        onclick: () => this.a.open(m.conversationId),
        onkeydown: (e: Event) => {
          if ((e as KeyboardEvent).key === 'Enter') this.a.open(m.conversationId);
        },
      },
      h(
        'div',
        { class: 'search-hit-top' },
        h('span', { class: 'search-hit-title' }, this.a.titleOf(m.conversationId)),
        h('span', { class: 'search-hit-when' }, shortWhen(m.createdAt)),
      ),
      h('div', { class: 'search-hit-body' }, `${m.senderId}: `, ...marked(m.body, this.query)),
    );
  }
}

/** The body as text nodes, with the query's words in <mark>. */
function marked(body: string, query: string): (Node | string)[] {
  const wanted = new Set(searchTerms(query));
  const out: (Node | string)[] = [];
  const segmenter = new Intl.Segmenter('und', { granularity: 'word' });
  for (const s of segmenter.segment(body)) {
    const term = s.isWordLike ? searchTerms(s.segment)[0] : undefined;
    out.push(term !== undefined && wanted.has(term) ? h('mark', null, s.segment) : s.segment);
  }
  return out;
}
