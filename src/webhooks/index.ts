/**
 * Webhooks for one gateway, built from config (docs/operations.md, "Webhooks"): the region's
 * durable queue (JetStream when the region has NATS, else LMDB in the data directory), the
 * emitter the gateway's store queues events through (`hooked-storage.ts`), and the dispatcher
 * that delivers them. Null when no endpoint is configured: nothing is queued then.
 */
import type { Registry } from 'prom-client';
import type { RegionConfig, WebhooksConfig } from '../config/schema.ts';
import type { Storage } from '../storage/types.ts';
import type { Logger } from '../util/log.ts';
import { lookupIn, type MessageLookup } from './content.ts';
import { WebhookDispatcher } from './dispatcher.ts';
import { EmbeddedWebhookQueue } from './embedded-queue.ts';
import { WebhookEmitter } from './emitter.ts';
import { JetStreamWebhookQueue } from './jetstream-queue.ts';
import { WebhookMetrics } from './metrics.ts';
import type { WebhookQueue } from './queue.ts';

export type { WebhookEvent, WebhookEventType } from './event-types.ts';
export { hookedStorage } from './hooked-storage.ts';
export type { DeadLetter, WebhookQueue } from './queue.ts';
export { signWebhook, verifyWebhook } from './signature.ts';

/**
 * An item handed out and not settled (its gateway died) is handed out again after this: past
 * the POST deadline, so a slow delivery still in progress is not handed out twice.
 */
export function ackWaitMs(config: WebhooksConfig): number {
  return config.timeoutMs + 5000;
}

export class Webhooks {
  readonly emitter: WebhookEmitter;
  private bound: { metrics: WebhookMetrics; dispatcher: WebhookDispatcher } | null = null;

  constructor(
    readonly queue: WebhookQueue,
    readonly config: WebhooksConfig,
    private readonly log: Logger,
    private readonly messages: MessageLookup,
  ) {
    this.emitter = new WebhookEmitter(config.endpoints, queue);
  }

  /** Registers the metrics in the gateway's registry (the gateway's constructor calls it). */
  bindMetrics(registry: Registry): void {
    if (this.bound) return;
    const metrics = new WebhookMetrics(registry, this.queue);
    const dispatcher = new WebhookDispatcher({
      queue: this.queue,
      config: this.config,
      metrics,
      log: this.log,
      messages: this.messages,
    });
    this.bound = { metrics, dispatcher };
  }

  get metrics(): WebhookMetrics | null {
    return this.bound?.metrics ?? null;
  }

  /** Opens the queue; before the gateway's store takes writes (they queue events). */
  start(): Promise<void> {
    return this.queue.start();
  }

  /** Starts delivering (the gateway calls this once it is up). */
  startDelivery(): void {
    if (!this.bound) throw new Error('webhooks: bindMetrics before startDelivery');
    this.bound.dispatcher.start();
  }

  /** Stops delivering (waiting for POSTs in flight), then closes the queue. */
  async close(): Promise<void> {
    await this.bound?.dispatcher.stop();
    await this.queue.close();
  }
}

export function createWebhooks(opts: {
  config: WebhooksConfig;
  region: RegionConfig;
  /** The embedded store's directory (the LMDB queue lives beside it). */
  dataDir: string;
  log: Logger;
  /** The region's store: each POST reads the message it carries from it (`content.ts`). */
  storage: Storage;
}): Webhooks | null {
  const { config, region } = opts;
  if (config.endpoints.length === 0) return null;
  const timing = { ackWaitMs: ackWaitMs(config) };
  const queue: WebhookQueue = region.nats
    ? new JetStreamWebhookQueue({ ...region.nats, region: region.name, ...timing })
    : new EmbeddedWebhookQueue({ dataDir: opts.dataDir, ...timing });
  return new Webhooks(queue, config, opts.log, lookupIn(opts.storage));
}
