/**
 * What the signed-in page shows beyond the store: the connection, the scroll position's intent
 * and the main composer's reply target. `ChatApp` owns one of these; its parts (rendering, event
 * wiring, the composer) read and move it, so there is one copy of each fact.
 */
import type { StateChange, WireMessage } from '../../../client/index.ts';

export interface UiState {
  /** The client's last connection state, for the status line and the offline bar. */
  conn: StateChange;
  /** When the next reconnect attempt is due (epoch ms), for the countdown. */
  retryAt: number;
  /** Renders keep the message list scrolled to its end (the user has not scrolled up). */
  stickToBottom: boolean;
  /** An older page of the open conversation is being read (one at a time). */
  loadingOlder: boolean;
  /** The message the main composer replies to (its Reply button), if any. */
  replyingTo: WireMessage | null;
}

export function initialUiState(): UiState {
  return {
    conn: { state: 'connecting', url: null, region: null, gatewayId: null, failures: 0 },
    retryAt: 0,
    stickToBottom: true,
    loadingOlder: false,
    replyingTo: null,
  };
}
