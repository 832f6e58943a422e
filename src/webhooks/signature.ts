/**
 * Webhook signatures, for the server that signs and the receivers that verify (import
 * `verifyWebhook` from here; it needs only `node:crypto`). The scheme (docs/operations.md,
 * "Webhooks"):
 *
 *   Webhook-Id:        the event id (the same on every delivery of the event)
 *   Webhook-Timestamp: seconds since the Unix epoch when this delivery was signed
 *   Webhook-Signature: v1=<hex HMAC-SHA256(secret, "<Webhook-Timestamp>.<raw body>")>
 *
 * The timestamp is inside the signed text, so a captured delivery cannot be replayed later with
 * a fresh timestamp; receivers refuse timestamps outside a tolerance (5 minutes by default).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** How far a delivery's timestamp may be from the receiver's clock (seconds). */
export const DEFAULT_TOLERANCE_SEC = 300;

/** The `Webhook-Signature` value for `body` signed at `timestampSec`. */
export function signWebhook(secret: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `v1=${mac}`;
}

export interface VerifyInput {
  secret: string;
  /** The raw request body, exactly as received (before any JSON parsing). */
  body: string;
  /** The request headers (any case; Node's lowercase `IncomingHttpHeaders` fits). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  toleranceSec?: number;
  /** The receiver's clock, ms (tests). */
  now?: number;
}

/**
 * True when the delivery was signed with `secret` over this body and its timestamp is within the
 * tolerance. Compares in constant time.
 */
export function verifyWebhook(input: VerifyInput): boolean {
  const header = (name: string): string | undefined => {
    for (const [k, v] of Object.entries(input.headers)) {
      if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
    }
    return undefined;
  };
  const ts = header(WEBHOOK_TIMESTAMP_HEADER);
  const sig = header(WEBHOOK_SIGNATURE_HEADER);
  if (!ts || !sig || !/^\d{1,12}$/.test(ts)) return false;
  const now = (input.now ?? Date.now()) / 1000;
  if (Math.abs(now - Number(ts)) > (input.toleranceSec ?? DEFAULT_TOLERANCE_SEC)) return false;
  const expected = Buffer.from(signWebhook(input.secret, Number(ts), input.body));
  const given = Buffer.from(sig);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
