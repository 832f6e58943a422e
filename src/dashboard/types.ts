/**
 * What the dashboard WebSocket carries. Plain types with no dependency, shared by the gateway
 * (`sampler.ts`, `endpoint.ts`) and the dashboard page (`src/web/ui/dashboard/`).
 */
import type { CrossRegionBacklog } from '../replication/backlog.ts';

export type { CrossRegionBacklog, PeerBacklog } from '../replication/backlog.ts';

export interface Percentiles {
  /** Milliseconds; null when nothing was observed in the window. */
  p50: number | null;
  p99: number | null;
}

export interface DashboardAlert {
  kind: 'error_rate' | 'region_unreachable' | 'replication' | 'webhooks';
  message: string;
  region?: string;
}

export interface RegionsView {
  /** The backlog as last read, or null before the first read. */
  backlog: CrossRegionBacklog | null;
  /** Why the last read failed entirely (this region's own NATS is unreachable), else null. */
  error: string | null;
  /** When the backlog was last read successfully (ms since epoch). */
  readAt: number | null;
}

/** Webhook delivery as this gateway sees it (rates and lag: its own deliveries; depth and dead letters: the region's). */
export interface WebhooksView {
  /** Successful deliveries per second, since the previous sample. */
  deliveredPerSec: number;
  /** Failed attempts (retried or dead-lettered) per second, since the previous sample. */
  failedPerSec: number;
  /** Event creation to successful delivery, over the window. */
  lagMs: Percentiles;
  queueDepth: number;
  deadLetters: number;
}

export interface DashboardSample {
  t: number;
  connections: number;
  /** Messages stored (acked to their senders) per second, since the previous sample. */
  messagesInPerSec: number;
  /** Message frames written to sockets per second (live and replayed), since the previous sample. */
  messagesOutPerSec: number;
  deliveryMs: Percentiles;
  storeMs: Percentiles;
  /** Errors ÷ requests over the window; null when there were no requests. */
  errorRate: number | null;
  requestsInWindow: number;
  /** Errors per second over the window, by code. */
  errorsPerSec: Record<string, number>;
  /** Offline-queue entries written minus acked since this gateway started (never below 0). */
  offlineQueue: number;
  /** Null for a single-region deployment. */
  regions: RegionsView | null;
  /** Null when no webhook endpoint is configured. */
  webhooks: WebhooksView | null;
  alerts: DashboardAlert[];
  totals: { messagesStored: number; messagesDelivered: number; errors: number; connectionsOpened: number };
}

export interface DashboardSettings {
  errorRateAlert: number;
  windowSec: number;
  intervalMs: number;
  regionUnreachableMs: number;
}

/** Frames the dashboard socket sends (JSON text). */
export type DashboardFrame =
  | {
      type: 'hello';
      region: string;
      gatewayId: string;
      multiRegion: boolean;
      config: DashboardSettings;
      history: DashboardSample[];
    }
  | { type: 'sample'; sample: DashboardSample };
