/**
 * Live message fan-out to this gateway's raw WebSocket connections through uWS's own pub/sub:
 * one topic per conversation, `c:<conversationId>`, and one `publish` per message that uWS
 * writes to every subscriber in C++, instead of a JS queue push and a corked write per socket.
 *
 * The hub still walks the recipients (it must: hold-back, replay de-duplication and
 * subscriptions are per connection), but a connection in steady state costs it a Set lookup and
 * a buffered-amount read; uWS batches and writes the frame. Who is subscribed:
 *
 * - Only a raw WebSocket connection in steady state: not replaying (`syncing`) and with no
 *   replayed ids pending (`recentlyReplayed`). It is subscribed the first time the hub fans out
 *   that conversation to it, and leaves all its topics when a replay begins (`leaveAll`), so
 *   hold-back keeps working through the JS path. Socket.IO connections always take the JS path.
 * - Membership is checked at every publish, not tracked: the hub counts the subscribed
 *   connections among this fan-out's recipients and compares with uWS's count of the topic
 *   (`numSubscribers`). Any difference (a member removed, a fan-out to a subset of members) means
 *   a subscriber that is not a recipient: the topic is dropped before anything is published and
 *   this fan-out goes the JS way. So no frame reaches a connection the caller did not address.
 *
 * Order: uWS writes a subscriber's pending topic frames before any later `send` to that socket,
 * so frames queued in JS after a publish stay behind it; frames queued before it are written
 * first (`prepare` flushes the connection's queue). Every topic-mode socket also holds the anchor
 * topic, which nobody publishes to: with this uWS build, leaving a socket's last topic frees its
 * subscriber record, and frames published to it but not yet written would be lost.
 *
 * Backpressure: uWS drops a frame past its `maxBackpressure` silently when it drains a topic,
 * so the endpoint sets no uWS limit and this module applies the configured one itself, before
 * every publish that reaches the connection (closing 4509 like the JS path; the client resumes).
 */

import { CloseCode, closeReason } from '../errors.ts';
import type { ConnectionState } from './connection.ts';
import type { HttpApp } from './transport/types.ts';
import { WsConnection } from './ws-connection.ts';

/** Held by every socket in topic mode so uWS keeps its subscriber record (see above). */
const ANCHOR_TOPIC = '~anchor';

export function conversationTopic(conversationId: string): string {
  return `c:${conversationId}`;
}

export class LocalTopics {
  /** topic → the connections subscribed to it here (uWS knows too; this is for dropping it). */
  private readonly subscribers = new Map<string, Set<WsConnection>>();

  constructor(
    private readonly app: HttpApp,
    /** Bytes buffered for a socket beyond which it is closed 4509 (`limits.maxBackpressureBytes`). */
    readonly maxBufferedBytes: number,
  ) {}

  /** Topics with subscribers here (tests, metrics). */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Whether this fan-out's frame for `state` can go by `topic`: subscribes a steady raw
   * WebSocket connection on first use, writes out what it has queued in JS (so the publish cannot
   * overtake it), and closes it 4509 if its buffer is over the limit. False: use the JS path.
   */
  prepare(state: ConnectionState, topic: string): boolean {
    const conn = state.conn;
    if (!(conn instanceof WsConnection) || state.recentlyReplayed !== null) return false;
    if (conn.hasQueued) conn.flush();
    if (!conn.open) return false;
    if (conn.ws.getBufferedAmount() > this.maxBufferedBytes) {
      conn.close(CloseCode.SlowConsumer, closeReason(CloseCode.SlowConsumer));
      return false;
    }
    if (conn.topics?.has(topic)) return true;
    this.subscribe(conn, topic);
    return true;
  }

  /**
   * Publishes `frame` to the topic if its subscribers are exactly the `expected` connections the
   * hub counted (plus `sender`, which uWS leaves out when it publishes); otherwise drops the topic
   * and returns false, and the caller sends the frame to the counted connections itself.
   */
  publish(topic: string, frame: string, expected: number, sender: WsConnection | null): boolean {
    const subscribed = this.app.numSubscribers(topic);
    if (subscribed !== expected + (sender ? 1 : 0)) {
      this.drop(topic);
      return false;
    }
    if (expected === 0) return true;
    if (sender) sender.ws.publish(topic, frame, false);
    else this.app.publish(topic, frame, false);
    return true;
  }

  /** Whether `conn` would be left out of a publish to `topic` by uWS as its sender. */
  isSubscribed(conn: WsConnection, topic: string): boolean {
    return conn.topics?.has(topic) === true;
  }

  /** Unsubscribes every connection from `topic` (its members changed, or a check failed). */
  drop(topic: string): void {
    const subs = this.subscribers.get(topic);
    if (!subs) return;
    this.subscribers.delete(topic);
    for (const conn of subs) {
      conn.topics?.delete(topic);
      if (!conn.closed) conn.ws.unsubscribe(topic);
    }
  }

  /** Leaves every conversation topic (a replay begins, or the connection is being closed). */
  leaveAll(conn: WsConnection): void {
    const topics = conn.topics;
    if (topics === null || topics.size === 0) return;
    for (const topic of topics) {
      this.forgetSubscriber(topic, conn);
      if (!conn.closed) conn.ws.unsubscribe(topic);
    }
    topics.clear();
  }

  /** The socket closed: uWS dropped its subscriptions; forget them here. */
  closed(conn: WsConnection): void {
    const topics = conn.topics;
    if (topics === null) return;
    for (const topic of topics) this.forgetSubscriber(topic, conn);
    conn.topics = null;
  }

  private subscribe(conn: WsConnection, topic: string): void {
    if (conn.topics === null) {
      conn.topics = new Set();
      conn.ws.subscribe(ANCHOR_TOPIC);
    }
    conn.topics.add(topic);
    conn.ws.subscribe(topic);
    let subs = this.subscribers.get(topic);
    if (!subs) {
      subs = new Set();
      this.subscribers.set(topic, subs);
    }
    subs.add(conn);
  }

  private forgetSubscriber(topic: string, conn: WsConnection): void {
    const subs = this.subscribers.get(topic);
    if (!subs) return;
    subs.delete(conn);
    if (subs.size === 0) this.subscribers.delete(topic);
  }
}
