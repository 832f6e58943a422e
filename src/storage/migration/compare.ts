/**
 * How the `compare` phase decides two stores gave the same answer: a canonical JSON form (bigints
 * as decimal strings, bytes as hex, object keys sorted, absent and null alike), with per-read
 * normalisers for answers whose order carries no meaning (sets of ids, ties in activity order).
 */

/** Canonical text of a stored value: equal texts mean equal answers. */
export function canonical(value: unknown): string {
  return JSON.stringify(normalise(value));
}

function normalise(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = normalise((value as Record<string, unknown>)[key]);
      // Absent and null mean the same in every stored type (e.g. `state`, `thread`).
      if (v !== null) out[key] = v;
    }
    return out;
  }
  return value;
}

/** For answers that are sets: the same members in any order compare equal. */
export function sortedCanonical(values: readonly unknown[]): string {
  return JSON.stringify(values.map(canonical).sort());
}
