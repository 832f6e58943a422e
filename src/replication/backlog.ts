/**
 * The cross-region replication backlog as `CrossRegionLink.backlog()` reports it. Plain types with
 * no dependency, so the dashboard page can share them.
 */

/** One peer region as seen from this region's side of the link (`CrossRegionLink.backlog`). */
export interface PeerBacklog {
  region: string;
  /** The peer's inbox answered a stream-info request in time (its JetStream cluster is reachable). */
  reachable: boolean;
  /** Events the peer's outbox holds for this region that this region's inbox has not sourced yet. */
  inbound: number | null;
  /** Milliseconds since this region's inbox last heard from the peer's outbox; null if never. */
  inboundIdleMs: number | null;
  /** Events this region's outbox holds for the peer that the peer's inbox has not sourced yet. */
  outbound: number | null;
  /** Why a figure is missing (the peer did not answer, a sourcing error), else null. */
  error: string | null;
}

export interface CrossRegionBacklog {
  region: string;
  /** Events in this region's inbox not yet applied (the consumer's pending plus unacked). */
  inboxPending: number | null;
  peers: PeerBacklog[];
}
