/**
 * Percentiles from Prometheus-style histograms over a sliding window: the difference of two
 * cumulative bucket readings, interpolated linearly inside the bucket the rank falls in (what
 * PromQL's `histogram_quantile` does). The answer is only as fine as the buckets.
 */

/** One reading of a histogram: upper bounds ascending (the last is +Infinity), cumulative counts. */
export interface BucketReading {
  bounds: number[];
  cumulative: number[];
}

/** Counts observed between two readings of the same histogram (bucket by bucket, cumulative). */
export function bucketDelta(newer: BucketReading, older: BucketReading | null): BucketReading {
  if (!older || older.bounds.length !== newer.bounds.length) return newer;
  // Counters only grow: any bucket below its older value means a reset (a new registry), and
  // everything the newer reading holds was observed since.
  if (newer.cumulative.some((c, i) => c < (older.cumulative[i] ?? 0))) return newer;
  return {
    bounds: newer.bounds,
    cumulative: newer.cumulative.map((c, i) => c - (older.cumulative[i] ?? 0)),
  };
}

/**
 * The `q` quantile (0..1) of the observations a reading holds, or null when it holds none. A rank
 * in the +Inf bucket answers the largest finite bound (the histogram cannot say more).
 */
export function histogramQuantile(q: number, reading: BucketReading): number | null {
  const { bounds, cumulative } = reading;
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0 || bounds.length === 0) return null;
  const rank = Math.min(1, Math.max(0, q)) * total;
  for (let i = 0; i < bounds.length; i++) {
    const upTo = cumulative[i] ?? 0;
    if (upTo < rank) continue;
    const upper = bounds[i]!;
    if (upper === Number.POSITIVE_INFINITY) {
      const finite = bounds.filter((b) => Number.isFinite(b));
      return finite.length > 0 ? finite[finite.length - 1]! : null;
    }
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    const before = i === 0 ? 0 : (cumulative[i - 1] ?? 0);
    const inBucket = upTo - before;
    if (inBucket <= 0) return upper;
    return lower + ((upper - lower) * (rank - before)) / inBucket;
  }
  return null;
}
