/**
 * The cross-region replication backlog on `/metrics`: the figures the dashboard shows
 * (`CrossRegionLink.backlog`), for Prometheus to graph and alert on. They live in JetStream, not
 * in the gateway, so they are read when scraped: one read serves all the gauges of a scrape
 * (and any scrape within `MAX_AGE_MS`), bounded by `READ_TIMEOUT_MS`. A gateway without
 * replication (one region) registers the gauges all the same, without samples, so every
 * gateway's `/metrics` names the same series.
 */
import { Gauge, type Registry } from 'prom-client';
import type { CrossRegionBacklog, PeerBacklog } from '../replication/index.ts';

/** A read this recent answers a scrape (the gauges of one scrape collect one after another). */
const MAX_AGE_MS = 1000;
/** JetStream's answers are awaited this long; a peer slower than that counts as unreachable. */
const READ_TIMEOUT_MS = 2000;

export type BacklogSource = (timeoutMs: number) => Promise<CrossRegionBacklog>;

export function registerReplicationMetrics(registry: Registry, source: BacklogSource | undefined): void {
  let last: { at: number; read: Promise<CrossRegionBacklog | null> } | null = null;
  const read = (): Promise<CrossRegionBacklog | null> => {
    if (!source) return Promise.resolve(null);
    if (last && Date.now() - last.at < MAX_AGE_MS) return last.read;
    // A failed read (link not started, NATS away) leaves the gauges without samples: a missing
    // series, not a made-up zero.
    last = { at: Date.now(), read: source(READ_TIMEOUT_MS).catch(() => null) };
    return last.read;
  };
  /** Sets one sample per peer whose figure is known; the others get none this scrape. */
  const perPeer = async (g: Gauge<'peer'>, figure: (p: PeerBacklog) => number | null): Promise<void> => {
    g.reset();
    for (const p of (await read())?.peers ?? []) {
      const v = figure(p);
      if (v !== null) g.set({ peer: p.region }, v);
    }
  };

  // Labelled with the inbox's region so that an unknown figure is no sample (a label-less gauge
  // shows 0). Not `region`: scrape configs commonly give every target that label.
  const inboxPending: Gauge<'inbox'> = new Gauge({
    name: 'chat_replication_inbox_pending',
    help: "Events in this region's replication inbox not yet applied to its store",
    labelNames: ['inbox'] as const,
    registers: [registry],
    async collect() {
      inboxPending.reset();
      const backlog = await read();
      if (backlog && backlog.inboxPending !== null)
        inboxPending.set({ inbox: backlog.region }, backlog.inboxPending);
    },
  });
  const inbound: Gauge<'peer'> = new Gauge({
    name: 'chat_replication_inbound_backlog',
    help: "Events the peer region's outbox holds for this region that this region's inbox has not sourced yet",
    labelNames: ['peer'] as const,
    registers: [registry],
    collect: () => perPeer(inbound, (p) => p.inbound),
  });
  const outbound: Gauge<'peer'> = new Gauge({
    name: 'chat_replication_outbound_backlog',
    help: "Events this region's outbox holds for the peer region that the peer's inbox has not sourced yet",
    labelNames: ['peer'] as const,
    registers: [registry],
    collect: () => perPeer(outbound, (p) => p.outbound),
  });
  const idle: Gauge<'peer'> = new Gauge({
    name: 'chat_replication_inbound_idle_seconds',
    help: "Seconds since this region's inbox last heard from the peer region's outbox",
    labelNames: ['peer'] as const,
    registers: [registry],
    collect: () => perPeer(idle, (p) => (p.inboundIdleMs === null ? null : p.inboundIdleMs / 1000)),
  });
  const reachable: Gauge<'peer'> = new Gauge({
    name: 'chat_replication_peer_reachable',
    help: "1 when the peer region's inbox answered within the read's timeout, else 0",
    labelNames: ['peer'] as const,
    registers: [registry],
    collect: () => perPeer(reachable, (p) => (p.reachable ? 1 : 0)),
  });
}
