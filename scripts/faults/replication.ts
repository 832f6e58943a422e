/**
 * Waits, before the final count, until every region's cross-region inbox has sourced and applied
 * everything its peers' outboxes hold. A message that reaches a device's region late is not lost:
 * after a long outage a region works through a backlog, and a device synced before the backlog is
 * applied would miss it in the count although it gets it moments later. The wait is bounded; what
 * is still pending then is reported (and the messages it holds count as lost).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { APPLY_CONSUMER, inboxStream, outboxStream } from '../../src/replication/link.ts';
import { unsourced } from '../../src/replication/unsourced.ts';

/** Per region: events not yet applied (inbox consumer) plus events not yet sourced into its inbox. */
export type ReplicationPending = Record<string, number | null>;

/** Where a region's pending events are: so that a wait that does not settle says why. */
export type PendingDetail = Record<string, string>;

/**
 * What the region's inbox has still to source from every outbox that feeds it (its own included:
 * its notes to itself) and what its apply consumer has still to apply. Not the sources' `lag`,
 * which nats-server 2.9 can leave stale (`unsourced.ts`); the `lag` is shown in the detail only.
 */
async function pendingIn(
  nc: NatsConnection,
  region: string,
  regions: string[],
): Promise<{ n: number | null; detail: string }> {
  try {
    const jsm = await nc.jetstreamManager({ timeout: 2000, checkAPI: false });
    const [consumer, stream, ...notSourced] = await Promise.all([
      jsm.consumers.info(inboxStream(region), APPLY_CONSUMER),
      jsm.streams.info(inboxStream(region)),
      ...regions.map((src) => unsourced(jsm, src, region)),
    ]);
    const lag = (name: string) => stream.sources?.find((s) => s.name === name)?.lag;
    const detail = [
      `pending ${consumer.num_pending}`,
      `ack pending ${consumer.num_ack_pending}`,
      `redelivered ${consumer.num_redelivered}`,
      ...regions.map((src, i) => `unsourced from ${src} ${notSourced[i]} (lag ${lag(outboxStream(src))})`),
    ].join(', ');
    const waiting = notSourced.reduce((a, b) => a + b, 0);
    return { n: consumer.num_pending + consumer.num_ack_pending + waiting, detail };
  } catch (err) {
    return { n: null, detail: String(err) };
  }
}

/**
 * Polls every region until all are at zero twice in a row, or `timeoutMs` passed. Returns how
 * long it took (null if it timed out) and the last figures.
 */
export async function awaitReplicationSettled(
  natsUrls: Record<string, string>,
  timeoutMs: number,
): Promise<{ settledMs: number | null; pending: ReplicationPending; detail: PendingDetail }> {
  const t0 = Date.now();
  const conns = await Promise.all(
    Object.entries(natsUrls).map(async ([region, url]) => ({ region, nc: await connect({ servers: url }) })),
  );
  let pending: ReplicationPending = {};
  let detail: PendingDetail = {};
  let zeroes = 0;
  try {
    while (Date.now() - t0 < timeoutMs) {
      const figures = await Promise.all(
        conns.map(
          async ({ region, nc }) => [region, await pendingIn(nc, region, Object.keys(natsUrls))] as const,
        ),
      );
      pending = Object.fromEntries(figures.map(([region, f]) => [region, f.n]));
      detail = Object.fromEntries(figures.map(([region, f]) => [region, f.detail]));
      zeroes = Object.values(pending).every((n) => n === 0) ? zeroes + 1 : 0;
      if (zeroes >= 2) return { settledMs: Date.now() - t0, pending, detail };
      await sleep(500);
    }
    return { settledMs: null, pending, detail };
  } finally {
    await Promise.all(conns.map(({ nc }) => nc.close()));
  }
}
