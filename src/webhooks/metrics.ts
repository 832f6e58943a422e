/** The webhook metrics, registered in the gateway's registry (served at `/metrics`, sampled by the dashboard). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WebhookQueue } from './queue.ts';

export type DeliveryOutcome = 'delivered' | 'retried' | 'dead';

export class WebhookMetrics {
  readonly deliveries: Counter<'endpoint' | 'outcome'>;
  /** From the event's creation to its successful delivery (retries and queueing included). */
  readonly lag: Histogram<'endpoint'>;
  readonly queueDepth: Gauge;
  readonly deadLetters: Gauge;
  /** The newest values the gauges read, for the dashboard (which samples without awaiting). */
  lastDepth = 0;
  lastDead = 0;

  constructor(registry: Registry, queue: WebhookQueue) {
    const registers = [registry];
    this.deliveries = new Counter({
      name: 'chat_webhook_deliveries_total',
      help: 'Webhook delivery attempts by endpoint and outcome (delivered, retried, dead)',
      labelNames: ['endpoint', 'outcome'],
      registers,
    });
    this.lag = new Histogram({
      name: 'chat_webhook_delivery_lag_seconds',
      help: 'Seconds from an event being queued to its successful delivery',
      labelNames: ['endpoint'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    const metrics = this;
    this.queueDepth = new Gauge({
      name: 'chat_webhook_queue_depth',
      help: "Webhook items queued in this region and not yet delivered or dead (the region's shared queue)",
      registers,
      async collect() {
        // A queue that does not answer (NATS away) keeps the last value: /metrics still serves.
        metrics.lastDepth = await queue.depth().catch(() => metrics.lastDepth);
        this.set(metrics.lastDepth);
      },
    });
    this.deadLetters = new Gauge({
      name: 'chat_webhook_dead_letters',
      help: 'Webhook items in the dead letters, waiting for an operator to replay them',
      registers,
      async collect() {
        metrics.lastDead = await queue.deadCount().catch(() => metrics.lastDead);
        this.set(metrics.lastDead);
      },
    });
  }
}
