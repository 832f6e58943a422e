/**
 * While a user's queue is held by two regions (a move between `dual` and `cleanup`), an ack in
 * one must reach the other, or the entry the user already has would be delivered again from the
 * copy. The gateway's store acks locally, then hands the ids to the other holder.
 */
import type { Directory } from '../config/directory.ts';
import { mirrorsAcks } from '../storage/home-moves.ts';
import type { Storage } from '../storage/types.ts';
import { overriding } from '../util/overriding.ts';
import type { HomeMoveEvent } from './events.ts';

export function mirroringAcks(
  inner: Storage,
  region: string,
  directory: Directory,
  publish: (ev: HomeMoveEvent) => Promise<void>,
): Storage {
  return overriding(inner, {
    async ackOffline(userId, messageIds) {
      await inner.ackOffline(userId, messageIds);
      const move = directory.moveOf(userId);
      if (!move || !mirrorsAcks(move.phase) || messageIds.length === 0) return;
      const other = region === move.from ? move.to : region === move.to ? move.from : null;
      if (!other) return;
      await publish({
        t: 'ack',
        userId,
        moveId: move.moveId,
        ids: messageIds.map(String),
        regions: [other],
      });
    },
  });
}
