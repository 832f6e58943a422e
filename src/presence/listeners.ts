import type { Logger } from '../util/log.ts';
import type { GatewayLost, PresenceInfo } from './types.ts';

/**
 * The subscribers to one kind of event of a presence instance. A listener that throws does not
 * stop the others and does not corrupt presence state: its error is logged (level error) when
 * the presence was given a logger, or without one rethrown on a fresh microtask, so it surfaces
 * as an uncaught exception (loudly) instead of being swallowed. Each listener gets its own copy
 * of the event (`copy`), so one cannot change what the next one sees.
 */
class Listeners<T> {
  private readonly listeners = new Set<(event: T) => void>();

  constructor(
    private readonly copy: (event: T) => T,
    private readonly log?: Logger,
  ) {}

  add(listener: (event: T) => void): () => void {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const entry = (event: T) => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(event: T): void {
    for (const listener of this.listeners) {
      try {
        listener(this.copy(event));
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

/** Subscribers to status changes. */
export class ListenerSet extends Listeners<PresenceInfo> {
  constructor(log?: Logger) {
    super((change) => ({ ...change, gateways: [...change.gateways] }), log);
  }
}

/** Subscribers to gateways found dead. */
export class GatewayLostListeners extends Listeners<GatewayLost> {
  constructor(log?: Logger) {
    super((event) => ({ ...event }), log);
  }
}
