/** Prometheus metrics of one gateway. A registry per gateway so several can live in one process. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({
    name: 'chat_connections',
    help: 'Open client connections',
    registers: [this.registry],
  });
  readonly framesIn = new Counter({
    name: 'chat_frames_in_total',
    help: 'Client frames received',
    registers: [this.registry],
  });
  readonly framesOut = new Counter({
    name: 'chat_frames_out_total',
    help: 'Frames sent to clients',
    registers: [this.registry],
  });
  readonly messagesStored = new Counter({
    name: 'chat_messages_stored_total',
    help: 'Messages durably stored (acked to their sender)',
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'chat_messages_duplicate_total',
    help: 'Resends recognised by (sender, clientMsgId) and not stored twice',
    registers: [this.registry],
  });
  readonly offlineEnqueued = new Counter({
    name: 'chat_offline_enqueued_total',
    help: 'Offline-queue entries written',
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'chat_errors_total',
    help: 'Error frames sent and abuse closes, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly backgroundFailures = new Counter({
    name: 'chat_background_failures_total',
    help: 'Failed background work after an ack (fan-out, offline enqueue, presence), by stage',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly storeLatency = new Histogram({
    name: 'chat_store_latency_seconds',
    help: 'Time to durably store a message',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
}
