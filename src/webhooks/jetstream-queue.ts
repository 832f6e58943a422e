/**
 * The webhook queue on JetStream, for a region with NATS: a work-queue stream per region
 * (`WEBHOOKS_<region>`) that every gateway of the region publishes to and takes from through one
 * durable pull consumer, so the work is shared and an item a dead gateway held comes back after
 * `ackWaitMs`. Publishing waits for the stream's ack (stored on disk), and the message id is the
 * item id, so a resend within the duplicate window is stored once. Dead letters are a KV bucket
 * keyed by item id: listed, counted and replayed by an operator.
 */
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats';
import { connectNats, type NatsTarget } from '../services/nats.ts';
import { drainNats } from '../util/close.ts';
import type { DeadLetter, QueueTiming, WebhookDelivery, WebhookItem, WebhookQueue } from './queue.ts';

const CONSUMER = 'dispatch';
/** Re-enqueueing an item id within this long after it was first queued adds nothing. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;
/** JetStream refuses pull requests that expire sooner than this. */
const MIN_PULL_MS = 1000;

/** `servers`, and the credentials and TLS of the region's `nats` block (services/nats.ts). */
export interface JetStreamQueueOptions extends QueueTiming, NatsTarget {
  region: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class JetStreamWebhookQueue implements WebhookQueue {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private jsm: JetStreamManager | null = null;
  private dead: KV | null = null;
  private consumer: Consumer | null = null;
  private closing = false;

  constructor(private readonly opts: JetStreamQueueOptions) {}

  private get stream(): string {
    return `WEBHOOKS_${this.opts.region}`;
  }

  private get subject(): string {
    return `webhooks.${this.opts.region}.q`;
  }

  async start(): Promise<void> {
    if (this.nc) return;
    this.nc = await connectNats(
      this.opts,
      { name: `webhooks-${this.opts.region}`, maxReconnectAttempts: -1, reconnectTimeWait: 500 },
      'webhook queue',
    );
    this.js = this.nc.jetstream();
    this.jsm = await this.nc.jetstreamManager();
    const cfg = {
      name: this.stream,
      subjects: [this.subject],
      storage: StorageType.File,
      // Removed once acked: what is in the stream is exactly what is still to deliver.
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: 1,
    };
    try {
      await this.jsm.streams.info(cfg.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.streams.add(cfg);
    }
    try {
      await this.jsm.consumers.info(this.stream, CONSUMER);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.consumers.add(this.stream, {
        durable_name: CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.opts.ackWaitMs),
        // Retries are counted and ended by the dispatcher (dead letters), not by the server.
        max_deliver: -1,
        max_ack_pending: 10_000,
      });
    }
    this.consumer = await this.js.consumers.get(this.stream, CONSUMER);
    this.dead = await this.js.views.kv(`webhooks_dead_${this.opts.region}`, { history: 1 });
  }

  async enqueue(items: readonly WebhookItem[]): Promise<void> {
    const js = this.need(this.js);
    await Promise.all(
      items.map((item) => js.publish(this.subject, encoder.encode(JSON.stringify(item)), { msgID: item.id })),
    );
  }

  async next(waitMs: number): Promise<WebhookDelivery | null> {
    if (this.closing) return null;
    const m = await this.need(this.consumer).next({ expires: Math.max(MIN_PULL_MS, waitMs) });
    if (!m) return null;
    const item = JSON.parse(decoder.decode(m.data)) as WebhookItem;
    const dead = this.need(this.dead);
    return {
      item,
      attempt: m.info.redeliveryCount,
      ack: async () => {
        await m.ackAck();
      },
      retry: async (delayMs) => {
        m.nak(delayMs);
      },
      dead: async (lastError) => {
        const letter: DeadLetter = { item, attempts: m.info.redeliveryCount, lastError, deadAt: Date.now() };
        // Stored as dead before it leaves the queue: a crash in between delivers it once more.
        await dead.put(item.id, encoder.encode(JSON.stringify(letter)));
        await m.ackAck();
      },
    };
  }

  async depth(): Promise<number> {
    const info = await this.need(this.jsm).streams.info(this.stream);
    return info.state.messages;
  }

  async listDead(limit: number): Promise<DeadLetter[]> {
    const dead = this.need(this.dead);
    const letters: DeadLetter[] = [];
    for await (const key of await dead.keys()) {
      const entry = await dead.get(key);
      if (entry && entry.operation === 'PUT')
        letters.push(JSON.parse(decoder.decode(entry.value)) as DeadLetter);
    }
    letters.sort((a, b) => a.deadAt - b.deadAt);
    return letters.slice(0, limit);
  }

  async deadCount(): Promise<number> {
    let n = 0;
    for await (const _key of await this.need(this.dead).keys()) n++;
    return n;
  }

  async replayDead(id: string): Promise<boolean> {
    const dead = this.need(this.dead);
    const entry = await dead.get(id);
    if (entry?.operation !== 'PUT') return false;
    const letter = JSON.parse(decoder.decode(entry.value)) as DeadLetter;
    // Its own message id: the original's may still be inside the duplicate window.
    await this.need(this.js).publish(this.subject, encoder.encode(JSON.stringify(letter.item)), {
      msgID: `${id}.replay.${Date.now()}`,
    });
    await dead.purge(id);
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    const nc = this.nc;
    this.nc = null;
    if (nc) await drainNats(nc);
  }

  private need<T>(v: T | null): T {
    if (!v) throw new Error('webhook queue not started');
    return v;
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string };
  return (
    e.api_error?.err_code === 10059 ||
    e.api_error?.err_code === 10014 ||
    e.code === '404' ||
    /not found/i.test(e.message ?? '')
  );
}
