/**
 * Presence contract: who is online, on which gateway, with how many devices.
 * Implementations: `MemoryPresence` (in-process, `npm start`) and `RedisPresence` (a region's
 * Redis). Both pass `test/presence.contract.ts`.
 *
 * A user is `online` if any live connection is not away, `away` if all live connections are
 * away, `offline` if there is none. Connections are kept alive by their gateway's heartbeat;
 * when a gateway stops heartbeating (crash), its connections expire after `ttlMs`.
 */
import type { PresenceStatus } from '../protocol/index.ts';

/** The statuses clients see (docs/protocol.md, PresenceInfo): defined by the protocol. */
export type { PresenceStatus };

export interface ConnectionRef {
  connectionId: string;
  gatewayId: string;
  /** Free-form device label from the client (e.g. "ios", "web"). */
  device: string;
}

export interface PresenceInfo {
  userId: string;
  status: PresenceStatus;
  /** When the user was last seen online (ms since epoch), null if never. */
  lastSeen: number | null;
  /** Number of live connections. */
  devices: number;
  /** Gateways holding at least one live connection of the user. */
  gateways: string[];
}

export type PresenceListener = (change: PresenceInfo) => void;

/**
 * A gateway of the region stopped heartbeating while it still held connections (a crash, or a
 * stall longer than the TTL), and its connections were swept. Announced once per gateway
 * incarnation, to every gateway of the region. What it acked but had not fanned out yet never
 * reached the other gateways' sockets: they resync theirs from `lastSeenAt`.
 */
export interface GatewayLost {
  gatewayId: string;
  /** Its last heartbeat (ms since epoch, the presence store's clock). */
  lastSeenAt: number;
}

export type GatewayLostListener = (event: GatewayLost) => void;

/**
 * Where some users are connected, as routing needs it (`Presence.locate`): which of this
 * region's other gateways to publish to, and who is connected somewhere else at all (so is not
 * queued for offline delivery).
 */
export interface Whereabouts {
  /**
   * This region's live gateways, other than the asking one, holding at least one live
   * connection (online or away) of the users → those users, in the order they were asked.
   */
  gateways: Map<string, string[]>;
  /** Users with a live connection on a gateway other than the asking one, in any region. */
  elsewhere: Set<string>;
}

export interface Presence {
  start(): Promise<void>;
  close(): Promise<void>;
  ping(): Promise<void>;
  markOnline(userId: string, conn: ConnectionRef): Promise<void>;
  markOffline(userId: string, connectionId: string): Promise<void>;
  setAway(userId: string, connectionId: string, away: boolean): Promise<void>;
  /** Refreshes the liveness of every connection held by `gatewayId`. Called every `heartbeatMs`. */
  heartbeat(gatewayId: string): Promise<void>;
  /** Presence of many users in one round trip. Unknown users come back `offline`. */
  getPresence(userIds: readonly string[]): Promise<Map<string, PresenceInfo>>;
  /** Subset of `userIds` with at least one live connection (online or away). */
  onlineUsers(userIds: readonly string[]): Promise<Set<string>>;
  /**
   * Where `userIds` are connected apart from gateway `fromGatewayId` (the asking one, which
   * knows its own connections). Lookups made in the same event-loop turn may share one round
   * trip; each still reads presence after it was called.
   */
  locate(userIds: readonly string[], fromGatewayId: string): Promise<Whereabouts>;
  /** Receive a change event whenever a user's aggregated status changes. Returns unsubscribe. */
  subscribe(listener: PresenceListener): () => void;
  /**
   * Receive an event when a gateway that held connections is found dead (see `GatewayLost`). A
   * gateway whose connections all closed before it stopped (a graceful stop) is not announced.
   * An instance also tells its own listeners when it finds that the liveness of a gateway it
   * registered connections for had lapsed (a stall past the TTL, a presence store restarted
   * empty): meanwhile other gateways saw those connections as gone and routed nothing to them.
   * Returns unsubscribe.
   */
  subscribeGatewayLost(listener: GatewayLostListener): () => void;
}
