/**
 * Presence subscriptions of this gateway's connections. The gateway listens to its `Presence`
 * once (`subscribe()`: every status change in the region, from Redis pub/sub or in-process) and
 * fans each change out to the local connections watching that user.
 */
import { ChatError, ErrorCode } from '../errors.ts';
import type { Presence, PresenceInfo } from '../presence/types.ts';
import type { ServerFrame } from '../protocol/index.ts';
import type { ConnectionState } from './connection.ts';
import type { GatewayMetrics } from './metrics.ts';

export class PresenceWatchers {
  private readonly byUser = new Map<string, Set<ConnectionState>>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly presence: Presence,
    private readonly metrics: GatewayMetrics,
    /** Most users one connection may watch at once. */
    readonly maxPerConnection: number,
  ) {}

  /** Starts listening to presence changes. Call after `presence.start()`. */
  start(): void {
    this.unsubscribe ??= this.presence.subscribe((change) => this.onChange(change));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Number of (connection, user) subscriptions, for tests and metrics. */
  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  /**
   * Adds subscriptions; returns the users that were not watched before (so a failed snapshot
   * can take exactly those back). Throws `invalid_field` past `maxPerConnection`.
   */
  add(state: ConnectionState, userIds: readonly string[]): string[] {
    const watching = state.watchedUsers();
    const added = userIds.filter((u) => !watching.has(u));
    if (watching.size + added.length > this.maxPerConnection) {
      throw new ChatError(
        ErrorCode.InvalidField,
        `userIds: a connection may watch at most ${this.maxPerConnection} users`,
        { field: 'userIds' },
      );
    }
    for (const userId of added) {
      watching.add(userId);
      let set = this.byUser.get(userId);
      if (!set) {
        set = new Set();
        this.byUser.set(userId, set);
      }
      set.add(state);
    }
    return added;
  }

  /** Removes subscriptions (`null`: all of this connection's). Unknown users are ignored. */
  remove(state: ConnectionState, userIds: readonly string[] | null): void {
    const watching = state.watching;
    if (!watching) return;
    for (const userId of userIds ?? [...watching]) {
      if (!watching.delete(userId)) continue;
      const set = this.byUser.get(userId);
      set?.delete(state);
      if (set?.size === 0) this.byUser.delete(userId);
    }
  }

  /** Forgets a closed connection. */
  drop(state: ConnectionState): void {
    this.remove(state, null);
    state.presenceHolds = 0;
    state.presenceHeld = null;
  }

  /**
   * Holds this connection's presence events back until `release`: a subscriber's snapshot may
   * be read from a store connection that is behind the event stream, so an event for a change
   * newer than the snapshot must not reach the client before the snapshot does.
   */
  hold(state: ConnectionState): void {
    state.presenceHolds++;
  }

  release(state: ConnectionState): void {
    if (state.presenceHolds === 0) return;
    state.presenceHolds--;
    if (state.presenceHolds > 0) return;
    const held = state.presenceHeld ?? [];
    state.presenceHeld = null;
    for (const payload of held) this.send(state, payload);
  }

  private onChange(change: PresenceInfo): void {
    const set = this.byUser.get(change.userId);
    if (!set || set.size === 0) return;
    const payload = JSON.stringify({
      op: 'presence',
      userId: change.userId,
      status: change.status,
      lastSeen: change.lastSeen,
      devices: change.devices,
    } satisfies ServerFrame);
    for (const state of set) {
      if (state.presenceHolds > 0) state.holdPresence(payload);
      else this.send(state, payload);
    }
  }

  private send(state: ConnectionState, payload: string): void {
    if (state.conn.closed) return;
    state.conn.sendRaw(payload);
    this.metrics.framesOut.inc();
  }
}
