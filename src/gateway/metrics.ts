/** Prometheus metrics of one gateway. A registry per gateway so several can live in one process. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

let processRegistry: Registry | null = null;

/**
 * prom-client's default metrics (CPU, resident memory, heap, event-loop lag, GC, handles): they
 * describe the process, not a gateway, so they are collected once per process, in a registry of
 * their own, and every gateway of the process serves them (tests run several in one process;
 * collecting twice into one registry would throw "already registered").
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class GatewayMetrics {
  /** This gateway's own metrics (the dashboard samples these). */
  readonly registry = new Registry();
  private servedRegistry: Registry | null = null;

  /** What `/metrics` serves: this gateway's metrics and the process's default metrics. */
  get served(): Registry {
    this.servedRegistry ??= Registry.merge([this.registry, processMetrics()]);
    return this.servedRegistry;
  }

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
  /** One per gateway a fan-out reached over the router: what routing by gateway saves is visible here. */
  readonly routedPublishes = new Counter({
    name: 'chat_routed_publishes_total',
    help: 'Frames published to other gateways of the region (one per gateway per fan-out)',
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
  readonly lateRecorded = new Counter({
    name: 'chat_messages_late_total',
    help: 'Messages made visible more than LATE_MS after their id was minted (written to the late index)',
    labelNames: ['path'] as const,
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
  readonly connectionsOpened = new Counter({
    name: 'chat_connections_opened_total',
    help: 'Client connections registered (both transports)',
    registers: [this.registry],
  });
  readonly messagesDelivered = new Counter({
    name: 'chat_messages_delivered_total',
    help: 'Message frames written to client sockets on this gateway: live, or replayed on (re)connect',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'chat_delivery_latency_seconds',
    help:
      'From the message being stamped by its sending gateway (just before the store write) to its live ' +
      "frame being written to the recipients' sockets here; one observation per message per gateway " +
      '(every local recipient of a fan-out shares it). Includes the store write; across gateways or ' +
      'regions also routing and clock skew',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly offlineAcked = new Counter({
    name: 'chat_offline_acked_total',
    help: 'Offline-queue entries removed by client acks (enqueued minus acked estimates the queue depth)',
    registers: [this.registry],
  });
  readonly resyncs = new Counter({
    name: 'chat_resyncs_total',
    help:
      'Server-side replays of an open connection after live deliveries may have been lost ' +
      '(reason: nats_gap | gateway_lost | presence_lapse; result: ok | failed, failed closes the connection 1001)',
    labelNames: ['reason', 'result'] as const,
    registers: [this.registry],
  });
  readonly resyncTriggers = new Counter({
    name: 'chat_resync_triggers_total',
    help: 'Events that made this gateway resync all its open connections (reason: nats_gap | gateway_lost | presence_lapse)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly resyncPending = new Gauge({
    name: 'chat_resync_pending',
    help: 'Open connections waiting for their resync (their live frames are held meanwhile)',
    registers: [this.registry],
  });

  readonly ready = new Gauge({
    name: 'chat_ready',
    help:
      '1 while the gateway is ready; 0 once a backing service has failed its probes for limits.unhealthyAfterMs ' +
      '(/readyz 503; with other regions, clients are sent there with close 4503)',
    registers: [this.registry],
  });
  readonly backendUp = new Gauge({
    name: 'chat_backend_up',
    help: "1 when the backing service answered the gateway's last probe, 0 when it failed or timed out",
    labelNames: ['check'] as const,
    registers: [this.registry],
  });
  readonly regionUnavailableCloses = new Counter({
    name: 'chat_region_unavailable_closes_total',
    help: 'Connections closed 4503 (this region cannot serve; reconnect to another), open ones and new ones',
    registers: [this.registry],
  });

  readonly transportInfo = new Gauge({
    name: 'chat_transport_info',
    help: 'Always 1; the label names the HTTP + WebSocket transport this gateway runs on (uws or node)',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  /** A live message frame stamped at `createdAt` (ms since epoch) was written to `count` sockets. */
  liveDelivered(createdAt: number, count = 1): void {
    this.messagesDelivered.inc({ path: 'live' }, count);
    this.deliveryLatency.observe(Math.max(0, Date.now() - createdAt) / 1000);
  }
}
