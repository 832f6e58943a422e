/**
 * Delivers queued webhook items: `concurrency` loops per gateway, each taking the next item of
 * the region's queue (every gateway of the region takes from the same one) and POSTing it,
 * signed (`signature.ts`). A 2xx settles it; anything else (a status, a timeout, a refused
 * connection) is retried after an exponential backoff with jitter, and after the last attempt
 * the item goes to the dead letters. At-least-once: a gateway that dies mid-POST leaves the item
 * unsettled, and it is handed out again.
 */
import type { WebhookEndpointConfig, WebhooksConfig } from '../config/schema.ts';
import { delay } from '../util/deadline.ts';
import type { Logger } from '../util/log.ts';
import { type MessageLookup, withContent } from './content.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { WebhookDelivery, WebhookQueue } from './queue.ts';
import {
  signWebhook,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from './signature.ts';

/** How long one `next` waits for an item before the loop checks whether it should stop. */
const POLL_MS = 1000;
/** Pause after the queue itself failed (NATS away), so a loop does not spin. */
const QUEUE_ERROR_PAUSE_MS = 1000;

/**
 * The delay before attempt `attempt + 1`: base × 2^(attempt−1), capped, then "equal jitter"
 * (half fixed, half random), so receivers recovering from an outage are not hit in lockstep.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(30, attempt - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export interface DispatcherDeps {
  queue: WebhookQueue;
  config: WebhooksConfig;
  metrics: WebhookMetrics;
  log: Logger;
  /** Reads a message as it is now: queued events carry none of its content (`content.ts`). */
  messages: MessageLookup;
}

export class WebhookDispatcher {
  private readonly endpoints: Map<string, WebhookEndpointConfig>;
  private loops: Promise<void>[] = [];
  private stopping = false;

  constructor(private readonly d: DispatcherDeps) {
    this.endpoints = new Map(d.config.endpoints.map((e) => [e.name, e]));
  }

  start(): void {
    if (this.loops.length > 0) return;
    for (let i = 0; i < this.d.config.concurrency; i++) this.loops.push(this.loop());
  }

  /** Stops taking items and waits for the POSTs in flight (each bounded by `timeoutMs`). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let delivery: WebhookDelivery | null;
      try {
        delivery = await this.d.queue.next(POLL_MS);
      } catch (err) {
        if (this.stopping) return;
        this.d.log.warn({ err }, 'webhook queue unavailable; retrying');
        await delay(QUEUE_ERROR_PAUSE_MS);
        continue;
      }
      if (!delivery) continue;
      try {
        await this.deliver(delivery);
      } catch (err) {
        // Settling failed (the queue went away): the item stays unsettled and comes back.
        this.d.log.warn({ err, item: delivery.item.id }, 'webhook delivery could not be settled');
      }
    }
  }

  private async deliver(d: WebhookDelivery): Promise<void> {
    const endpoint = this.endpoints.get(d.item.endpoint);
    const name = d.item.endpoint;
    if (!endpoint) {
      // Queued for an endpoint since removed from the config: kept for the operator, not dropped.
      await d.dead(`endpoint ${name} is not configured`);
      this.d.metrics.deliveries.inc({ endpoint: name, outcome: 'dead' });
      return;
    }
    const error = await this.post(endpoint, d);
    if (error === null) {
      await d.ack();
      this.d.metrics.deliveries.inc({ endpoint: name, outcome: 'delivered' });
      this.d.metrics.lag.observe({ endpoint: name }, (Date.now() - d.item.event.createdAt) / 1000);
      return;
    }
    const { attempts, baseBackoffMs, maxBackoffMs } = this.d.config;
    if (d.attempt >= attempts) {
      await d.dead(error);
      this.d.metrics.deliveries.inc({ endpoint: name, outcome: 'dead' });
      this.d.log.warn({ item: d.item.id, attempts: d.attempt, error }, 'webhook moved to dead letters');
      return;
    }
    await d.retry(backoffMs(d.attempt, baseBackoffMs, maxBackoffMs));
    this.d.metrics.deliveries.inc({ endpoint: name, outcome: 'retried' });
  }

  /** POSTs the event; null when the receiver answered 2xx, else what went wrong. */
  private async post(endpoint: WebhookEndpointConfig, d: WebhookDelivery): Promise<string | null> {
    const ts = Math.floor(Date.now() / 1000);
    try {
      // A store that does not answer fails the attempt (retried), never sends deleted text.
      const event = await withContent(d.item.event, this.d.messages);
      const body = JSON.stringify(event);
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [WEBHOOK_ID_HEADER]: d.item.event.id,
          [WEBHOOK_TIMESTAMP_HEADER]: String(ts),
          [WEBHOOK_SIGNATURE_HEADER]: signWebhook(endpoint.secret, ts, body),
          'webhook-attempt': String(d.attempt),
        },
        body,
        signal: AbortSignal.timeout(this.d.config.timeoutMs),
        redirect: 'manual',
      });
      // The body is not read: drain it so the connection is reused.
      await res.body?.cancel();
      return res.ok ? null : `HTTP ${res.status}`;
    } catch (err) {
      return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  }
}
