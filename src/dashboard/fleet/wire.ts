/**
 * `GatewayStats` on the wire: JSON, checked on arrival with a schema, so a message from a gateway
 * of another version (or anything else on the subject) is counted and dropped, never shown half.
 */
import { z } from 'zod';
import type { GatewayStats } from '../types.ts';

const count = z.number().finite().min(0);
const maybe = count.nullable();
const percentiles = z.object({ p50: maybe, p99: maybe });

const statsSchema = z.object({
  v: z.literal(1),
  region: z.string().min(1).max(64),
  gatewayId: z.string().min(1).max(128),
  transport: z.string().max(32),
  t: count,
  stopping: z.boolean(),
  connections: count,
  messagesInPerSec: count,
  messagesOutPerSec: count,
  deliveryMs: percentiles,
  storeMs: percentiles,
  errorRate: maybe,
  offlineQueue: count,
  replication: z
    .object({
      inboxPending: maybe,
      error: z.string().max(1000).nullable(),
      peers: z
        .array(
          z.object({
            region: z.string().min(1).max(64),
            reachable: z.boolean(),
            inbound: maybe,
            outbound: maybe,
            inboundIdleMs: maybe,
          }),
        )
        .max(64),
    })
    .nullable(),
  alerts: z
    .array(
      z.object({
        kind: z.enum(['error_rate', 'region_unreachable', 'replication', 'webhooks']),
        message: z.string().max(1000),
        region: z.string().max(64).optional(),
      }),
    )
    .max(32),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeStats(stats: GatewayStats): Uint8Array {
  return encoder.encode(JSON.stringify(stats));
}

/** Parses a message; throws (a `ZodError` or `SyntaxError`) when it is not `GatewayStats`. */
export function decodeStats(data: Uint8Array): GatewayStats {
  const parsed: GatewayStats = statsSchema.parse(JSON.parse(decoder.decode(data)));
  return parsed;
}
