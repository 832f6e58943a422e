import type { Logger } from '../util/log.ts';
import type { PresenceInfo, PresenceListener } from './types.ts';

/**
 * The subscribers of one presence instance. A listener that throws does not stop the others
 * and does not corrupt presence state: its error is logged (level error) when the presence was
 * given a logger, or without one rethrown on a fresh microtask, so it surfaces as an uncaught
 * exception (loudly) instead of being swallowed.
 */
export class ListenerSet {
  private readonly listeners = new Set<PresenceListener>();

  constructor(private readonly log?: Logger) {}

  add(listener: PresenceListener): () => void {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const entry: PresenceListener = (change) => listener(change);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(change: PresenceInfo): void {
    for (const listener of this.listeners) {
      try {
        listener({ ...change, gateways: [...change.gateways] });
      } catch (err) {
        const log = this.log;
        if (log) log.error({ err }, 'presence subscriber threw');
        else {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }

  clear(): void {
    this.listeners.clear();
  }
}
