/**
 * What a new connection brings back that the server does not replay: the away state and presence
 * subscriptions (per connection on the server, forgotten with the last one), and the
 * conversation list (conversation events and receipts missed while away are state, not history).
 */
import type { Emitter } from './emitter.ts';
import { ChatClientError, LocalErrorCode } from './errors.ts';
import type { ChatClientEvents } from './options.ts';
import type { RequestFrame } from './requests.ts';
import type { ResultOf, ResultOp } from './types.ts';

/** Most users in one `presence` / `subscribePresence` request. */
const MAX_PRESENCE_USERS = 500;

export interface RestoreDeps {
  /** Sends a request answered by a `result` frame (the connection's `result`). */
  result: <F extends RequestFrame<ResultOp>>(frame: F) => Promise<ResultOf<F['op']>>;
  events: Pick<Emitter<ChatClientEvents>, 'emit'>;
}

/** Re-applies what the server forgot with the last connection: away, presence subscriptions. */
export function restoreConnectionState(away: boolean, watched: ReadonlySet<string>, d: RestoreDeps): void {
  const report = (err: unknown) => {
    // A drop is handled by the next welcome, which restores again.
    if (err instanceof ChatClientError && err.code !== LocalErrorCode.Disconnected)
      d.events.emit('error', err);
  };
  if (away) d.result({ op: 'setAway', away: true }).catch(report);
  const users = [...watched];
  for (let i = 0; i < users.length; i += MAX_PRESENCE_USERS) {
    const userIds = users.slice(i, i + MAX_PRESENCE_USERS);
    d.result({ op: 'subscribePresence', userIds }).then(({ users: infos }) => {
      for (const u of infos) {
        if (typeof u !== 'object' || u === null || !watched.has(u.userId)) continue;
        const { userId, status, lastSeen, devices } = u;
        d.events.emit('presence', { op: 'presence', userId, status, lastSeen, devices });
      }
    }, report);
  }
}

/**
 * After a (re)connect's replay: the conversation list, where conversation events and receipts
 * missed while away show (they are state, not replayed history).
 */
export function refreshConversations(d: RestoreDeps): void {
  d.result({ op: 'listConversations' }).then(
    ({ conversations }) => d.events.emit('conversations', conversations),
    (err: unknown) => {
      // A drop is followed by another connect, which refreshes again.
      if (err instanceof ChatClientError && err.code !== LocalErrorCode.Disconnected)
        d.events.emit('error', err);
    },
  );
}
