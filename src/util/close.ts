/**
 * Closing client connections of backing services within a bound. A graceful close (Redis QUIT,
 * NATS drain) waits on the server; when the server is down it waits on reconnects that may never
 * succeed (ioredis queues QUIT behind pending commands, nats.js drains only once reconnected).
 * Past the grace the connection is dropped instead, so a stop never outlives its services.
 */
import type { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import { settleWithin } from './deadline.ts';

/**
 * How long a graceful close may take before the connection is dropped. A healthy server answers
 * QUIT or a drain in milliseconds; seconds mean it is unreachable.
 */
export const CLOSE_GRACE_MS = 3000;

/** QUITs `client`, or disconnects it if that fails or takes longer than `graceMs`. True if it quit. */
export async function quitRedis(client: Redis, graceMs = CLOSE_GRACE_MS): Promise<boolean> {
  if (client.status === 'end' || client.status === 'wait') {
    client.disconnect();
    return false;
  }
  const quit = client.quit().then(
    () => true,
    () => false,
  );
  const done = await settleWithin(quit, graceMs, false);
  // Also rejects the commands still queued for a server that is gone.
  if (!done) client.disconnect();
  return done;
}

/** Drains `nc`, or closes it if that fails or takes longer than `graceMs`. True if it drained. */
export async function drainNats(nc: NatsConnection, graceMs = CLOSE_GRACE_MS): Promise<boolean> {
  if (nc.isClosed()) return true;
  const drain = nc.drain().then(
    () => true,
    () => false,
  );
  const done = await settleWithin(drain, graceMs, false);
  if (!done) await nc.close().catch(() => {});
  return done;
}
