/**
 * What the SDK knows of changed messages (edited, deleted, reacted to): for each one, the newest
 * version seen (from an `update`, a replayed or history message, or the reply to this client's
 * own change). Updates can repeat (a resend, a replay overlapping live delivery) and arrive out
 * of order (two regions); the protocol's rules decide: for the body, the larger `state.revision`
 * wins and a deleted state is final; for the reactions, the larger `reactions.revision`. The two
 * are merged independently, so the app is told of each newer version once, never of an older
 * one, and a message delivered after a newer update of it (an offline-queue copy) shows it.
 */
import { compareIds } from './ids.ts';
import type { WireMessage } from './types.ts';

/** Changed messages remembered; an older one forgotten can only let a stale update through. */
export const DEFAULT_STATE_CAPACITY = 10_000;

export class MessageStates {
  /** message id → the newest version of it seen, for changed messages. Insertion = age. */
  private readonly newest = new Map<string, WireMessage>();

  constructor(private readonly capacity = DEFAULT_STATE_CAPACITY) {}

  /**
   * Takes `message` in: true when it tells something newer than what was known (the app should
   * show `current(message)`), false for a repeat or an older version.
   */
  apply(message: WireMessage): boolean {
    const known = this.newest.get(message.id);
    if (!known) {
      if (message.state || message.reactions) this.remember(message);
      return true;
    }
    const merged = mergeVersions(known, message);
    if (merged === known) return false;
    this.remember(merged);
    return true;
  }

  /** The message as the app should see it: the newest known state and reactions. */
  current(message: WireMessage): WireMessage {
    const known = this.newest.get(message.id);
    return known ? mergeVersions(known, message) : message;
  }

  private remember(message: WireMessage): void {
    this.newest.delete(message.id);
    this.newest.set(message.id, message);
    if (this.newest.size > this.capacity) {
      const oldest = this.newest.keys().next();
      if (!oldest.done) this.newest.delete(oldest.value);
    }
  }
}

/** True when `a`'s state supersedes `b`'s: a delete is final, else the larger revision. */
export function isNewer(a: WireMessage, b: WireMessage): boolean {
  const sa = a.state;
  const sb = b.state;
  if (!sa) return false;
  if (!sb) return true;
  if (sb.deleted) return false;
  if (sa.deleted) return true;
  return compareIds(sa.revision, sb.revision) > 0;
}

/**
 * `known` updated with whatever `incoming` has that is newer; `known` itself (the same object)
 * when nothing is. A deleted message shows no reactions.
 */
export function mergeVersions(known: WireMessage, incoming: WireMessage): WireMessage {
  const base = isNewer(incoming, known) ? incoming : known;
  const rk = known.reactions;
  const ri = incoming.reactions;
  const reactions = ri && (!rk || compareIds(ri.revision, rk.revision) > 0) ? ri : rk;
  if (base.state?.deleted) {
    if (base === known && !known.reactions) return known;
    const { reactions: _dropped, ...rest } = base;
    return rest;
  }
  if (base === known && reactions === known.reactions) return known;
  if (reactions === base.reactions) return base;
  const merged: WireMessage = { ...base };
  if (reactions) merged.reactions = reactions;
  else delete merged.reactions;
  return merged;
}
