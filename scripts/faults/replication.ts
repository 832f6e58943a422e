/**
 * Waits, before the final count, until every region's cross-region inbox has sourced and applied
 * everything its peers' outboxes hold. A message that reaches a device's region late is not lost:
 * after a long outage a region works through a backlog, and a device synced before the backlog is
 * applied would miss it in the count although it gets it moments later. The wait is bounded; what
 * is still pending then is reported (and the messages it holds count as lost).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { APPLY_CONSUMER, inboxStream } from '../../src/replication/link.ts';

/** Per region: events not yet applied (inbox consumer) plus events not yet sourced (inbox lag). */
export type ReplicationPending = Record<string, number | null>;

async function pendingIn(nc: NatsConnection, region: string): Promise<number | null> {
  try {
    const jsm = await nc.jetstreamManager({ timeout: 2000, checkAPI: false });
    const [consumer, stream] = await Promise.all([
      jsm.consumers.info(inboxStream(region), APPLY_CONSUMER),
      jsm.streams.info(inboxStream(region)),
    ]);
    const lag = (stream.sources ?? []).reduce((n, s) => n + s.lag, 0);
    return consumer.num_pending + consumer.num_ack_pending + lag;
  } catch {
    return null;
  }
}

/**
 * Polls every region until all are at zero twice in a row, or `timeoutMs` passed. Returns how
 * long it took (null if it timed out) and the last figures.
 */
export async function awaitReplicationSettled(
  natsUrls: Record<string, string>,
  timeoutMs: number,
): Promise<{ settledMs: number | null; pending: ReplicationPending }> {
  const t0 = Date.now();
  const conns = await Promise.all(
    Object.entries(natsUrls).map(async ([region, url]) => ({ region, nc: await connect({ servers: url }) })),
  );
  let pending: ReplicationPending = {};
  let zeroes = 0;
  try {
    while (Date.now() - t0 < timeoutMs) {
      const figures = await Promise.all(
        conns.map(async ({ region, nc }) => [region, await pendingIn(nc, region)]),
      );
      pending = Object.fromEntries(figures);
      zeroes = Object.values(pending).every((n) => n === 0) ? zeroes + 1 : 0;
      if (zeroes >= 2) return { settledMs: Date.now() - t0, pending };
      await sleep(500);
    }
    return { settledMs: null, pending };
  } finally {
    await Promise.all(conns.map(({ nc }) => nc.close()));
  }
}
