/** The page's one toast: a short note (a failed send, a refused edit) that hides after a while. */
import { $ } from '../dom.ts';

/** How long a toast stays up; a newer one replaces it and starts the time again. */
const TOAST_MS = 5000;

export class Toast {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly root: HTMLElement) {}

  show(text: string): void {
    const el = $('#toast', this.root);
    el.textContent = text;
    el.hidden = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      el.hidden = true;
    }, TOAST_MS);
  }
}
