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
  migrations: MigrationsView;
  alerts: DashboardAlert[];
  totals: { messagesStored: number; messagesDelivered: number; errors: number; connectionsOpened: number };
}

/** The migrations this gateway takes part in (docs/operations.md, the two runbooks). */
export interface MigrationsView {
  /** Null unless a store migration is configured for the region. Counts are since this gateway started. */
  store: {
    /** The phase this gateway follows. */
    phase: string;
    /** The backfill's progress as the command last recorded it. */
    conversations: number;
    messages: number;
    finished: boolean;
    /** Reads made on both stores in `compare`, and those where the stores disagreed. */
    compared: number;
    disagreements: number;
    /** Writes the store in charge took that the other store refused (reconcile repairs them). */
    notMirrored: number;
  } | null;
  /** Home-region move records this region holds, by phase; `running`: moves this gateway drives. */
  homeMoves: { running: number; byPhase: Record<string, number> } | null;
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
      /** Every gateway of every region, with its history. */
      fleet: FleetView;
    }
  | { type: 'sample'; sample: DashboardSample; fleet: FleetView };

// ---- the whole deployment: every gateway of every region (`src/dashboard/fleet/`) --------------

/** One peer region's replication lag as a gateway publishes it (from its `CrossRegionBacklog`). */
export interface PeerLag {
  region: string;
  reachable: boolean;
  /** Events that peer's outbox holds for this region, not yet sourced; null when unknown. */
  inbound: number | null;
  /** Events this region's outbox holds for that peer, not yet sourced by it; null when unknown. */
  outbound: number | null;
  /** Milliseconds since this region last heard from that peer; null if never. */
  inboundIdleMs: number | null;
}

/**
 * What every gateway publishes once per `dashboard.intervalMs` on `stats.<region>.<gatewayId>`
 * (JSON). Versioned: a receiver ignores (and counts) what it cannot parse.
 */
export interface GatewayStats {
  v: 1;
  region: string;
  gatewayId: string;
  /** The HTTP/WebSocket server the gateway runs on (`uws` or `node`). */
  transport: string;
  /** When the publisher sampled it (ms since epoch, its clock). */
  t: number;
  /** Set on the last message of a gateway that is stopping: shown gone at once, not after a silence. */
  stopping: boolean;
  connections: number;
  messagesInPerSec: number;
  messagesOutPerSec: number;
  deliveryMs: Percentiles;
  storeMs: Percentiles;
  errorRate: number | null;
  /** The gateway's offline-queue entries written minus acked (`DashboardSample.offlineQueue`). */
  offlineQueue: number;
  /** Null in a single-region deployment. */
  replication: {
    inboxPending: number | null;
    /** Why the gateway could not read its link at all, else null. */
    error: string | null;
    peers: PeerLag[];
  } | null;
  alerts: DashboardAlert[];
}

/** One point of a gateway's history: a published sample, or the merge of a minute of them. */
export interface FleetPoint {
  t: number;
  /** Samples merged into this point (1 for a per-second point). */
  n: number;
  connections: number;
  messagesInPerSec: number;
  messagesOutPerSec: number;
  /** The worst p99 in the point (ms). */
  deliveryP99: number | null;
  storeP99: number | null;
  errorRate: number | null;
  offlineQueue: number;
  /** The largest inbound / outbound replication backlog over the peers (events); null with none. */
  inboundLag: number | null;
  outboundLag: number | null;
}

export interface FleetGateway {
  region: string;
  gatewayId: string;
  /**
   * `live`: heard within `goneAfterMs`; `gone`: silent longer (kept, with its history, until the
   * history window passes); `stopped`: said it was stopping.
   */
  state: 'live' | 'gone' | 'stopped';
  /** When this gateway last heard from it (ms since epoch, this gateway's clock). */
  lastHeardAt: number;
  latest: GatewayStats;
  /** The latest point, for a page appending to the history it already has. */
  point: FleetPoint;
  /** Oldest first; present in `GET /dashboard/fleet` and the `hello` frame, absent in per-second updates. */
  history?: FleetPoint[];
}

export interface FleetView {
  /** When this view was taken (ms since epoch). */
  at: number;
  /** The gateway serving the view. */
  self: { region: string; gatewayId: string };
  /** Every configured region, so a region with no gateway heard still shows (empty). */
  regions: string[];
  /** `nats`: stats heard over NATS from every region; `memory`: this process only (embedded mode). */
  bus: 'nats' | 'memory';
  /** Why the stats bus is not working right now (NATS unreachable), else null. */
  busError: string | null;
  goneAfterMs: number;
  historySec: number;
  /** Messages on the stats subjects that could not be read, since start. */
  malformed: number;
  gateways: FleetGateway[];
}
