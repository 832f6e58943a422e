/**
 * Whether a region has applied everything the other regions published so far, from its
 * replication backlog: what an erasure's follow-up pass and a home move's verification wait for.
 */
import type { CrossRegionBacklog } from './backlog.ts';

/**
 * Whether the region has applied everything other regions published so far: its inbox holds no
 * more than the `inFlight` events its caller is applying, and every peer is reachable with nothing
 * in its outbox for this region. A figure that could not be read counts as behind.
 */
export function caughtUp(backlog: CrossRegionBacklog, inFlight: number): boolean {
  return (
    backlog.inboxPending !== null &&
    backlog.inboxPending <= inFlight &&
    backlog.peers.every((p) => p.reachable && p.inbound === 0)
  );
}
