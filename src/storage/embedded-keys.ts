/**
 * Key pieces of the embedded (LMDB) store. Numbers go into keys as fixed-width decimal strings:
 * ordered-binary can encode a bigint but reads it back as a `number` when it fits a double, and
 * equal-width digit strings sort numerically with no such surprise.
 */

/** ordered-binary's maximum key (one 0xff byte): sorts after every string, ends prefix ranges. */
export const MAX_KEY = new Uint8Array([0xff]);

/** Fixed-width decimal so lexicographic key order equals numeric order (2^64 has 20 digits). */
export function padId(id: bigint): string {
  return id.toString().padStart(20, '0');
}

/** A time in ms (0..8.64e15, at most 16 digits) as a fixed-width decimal, sorting like the number. */
export function padTime(ms: number): string {
  return ms.toString().padStart(16, '0');
}
