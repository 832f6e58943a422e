/**
 * Message ids are 64-bit integers carried as decimal strings: compare them as bigints, never as
 * numbers (precision) or strings ("10" < "9").
 */

const DECIMAL = /^\d{1,20}$/;

export function isMessageId(value: unknown): value is string {
  return typeof value === 'string' && DECIMAL.test(value);
}

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The newer of two ids; `null` counts as older than any id. */
export function maxId(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareIds(a, b) >= 0 ? a : b;
}

/**
 * A random idempotency key for `send`: 128 bits from the platform CSPRNG, base-16. Uses
 * `crypto.getRandomValues`, which (unlike `randomUUID`) browsers also offer outside secure contexts.
 */
export function randomClientMsgId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let out = 'c';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * A set that remembers at most `capacity` keys, forgetting the least recently added or touched.
 * Used to drop messages delivered twice (live and replayed) without growing forever.
 */
export class LruSet {
  private readonly keys = new Set<string>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.keys.size;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Adds (or refreshes) `key`; returns false if it was already present. */
  add(key: string): boolean {
    const had = this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      // A Set iterates in insertion order, so the first key is the oldest.
      const oldest = this.keys.values().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
    return !had;
  }
}

/** The id of the direct conversation between two users: `dm:` + both ids sorted by code unit. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}
