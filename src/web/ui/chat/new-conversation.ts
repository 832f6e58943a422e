/**
 * The "+" panel: starting a direct conversation or creating a group. What these throw (a bad id,
 * a missing title, the server's refusal) is shown in the panel by the shell.
 */
import type { ChatClient, WireConversation } from '../../../client/index.ts';
import { $ } from '../dom.ts';

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export async function startDirect(client: ChatClient, me: string, userId: string): Promise<WireConversation> {
  if (!USER_ID.test(userId)) throw new Error('a user id is 1–64 letters, digits, _ or -');
  if (userId === me) throw new Error('that is you');
  return client.openDirect(userId);
}

export async function createGroup(
  client: ChatClient,
  title: string,
  members: string[],
): Promise<WireConversation> {
  const bad = members.find((m) => !USER_ID.test(m));
  if (bad !== undefined) throw new Error(`not a user id: ${bad}`);
  if (title.trim() === '') throw new Error('the group needs a title');
  return client.createGroup(title.trim(), members);
}

/** Shows or hides the panel (`show` omitted: toggles it), focusing its first field when shown. */
export function togglePanel(root: HTMLElement, show?: boolean): void {
  const panel = $('#new-panel', root);
  panel.hidden = show === undefined ? !panel.hidden : !show;
  if (!panel.hidden) panel.querySelector('input')?.focus();
}
