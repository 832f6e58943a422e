/**
 * WebSocket pub/sub for the `ws` transport: one subscriber set per topic, and a publish writes to
 * each subscriber in turn (uWS does it in C++). Order with a socket's own sends holds: both write
 * to the socket at once.
 */
import type { Body } from './bytes.ts';

/** A socket as topics see it (`NodeSocket`): its `send`, with uWS's 1/0/2 result. */
export interface Subscriber {
  send(message: Body, isBinary: boolean): number;
}

/** Topic subscriptions of the app's sockets: one set per topic. */
export class Topics {
  private readonly sets = new Map<string, Set<Subscriber>>();

  subscribe(topic: string, s: Subscriber): boolean {
    let set = this.sets.get(topic);
    if (!set) {
      set = new Set();
      this.sets.set(topic, set);
    }
    if (set.has(s)) return false;
    set.add(s);
    return true;
  }

  unsubscribe(topic: string, s: Subscriber): boolean {
    const set = this.sets.get(topic);
    if (!set?.delete(s)) return false;
    if (set.size === 0) this.sets.delete(topic);
    return true;
  }

  count(topic: string): number {
    return this.sets.get(topic)?.size ?? 0;
  }

  publish(topic: string, message: Body, isBinary: boolean, except: Subscriber | null): boolean {
    const set = this.sets.get(topic);
    if (!set) return false;
    // Encoded once for every subscriber (ws would encode a string per send).
    const data = typeof message === 'string' ? Buffer.from(message) : message;
    for (const s of set) if (s !== except) s.send(data, isBinary);
    return true;
  }
}
