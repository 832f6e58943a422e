/**
 * A small log-linear latency histogram in the spirit of HdrHistogram: every power of two of
 * microseconds is split into `SUB_BUCKETS` equal buckets, so a recorded value is kept to within
 * 1 / SUB_BUCKETS (≈ 1.6 %) of itself, from 1 µs to over an hour, in a fixed 2,560-slot array.
 * Histograms from several load-generator processes are merged by adding their counts, which is
 * why workers ship `toJSON()` to the coordinator instead of percentiles (percentiles of
 * percentiles are meaningless).
 */

/** Linear buckets per power of two; 64 keeps the relative error under 1 / 64. */
const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Octaves above the linear range: 2^(6+34) µs is far beyond any run. */
const OCTAVES = 34;
const SLOTS = SUB_BUCKETS * (OCTAVES + 1);

/** Sparse wire form: [slot, count] pairs, plus the exact extremes. */
export interface HistogramJson {
  counts: [number, number][];
  max: number;
  min: number;
  total: number;
}

export class Histogram {
  private readonly counts = new Float64Array(SLOTS);
  total = 0;
  /** Exact extremes in µs (the buckets only know them to within ~1.6 %). */
  max = 0;
  min = Number.POSITIVE_INFINITY;

  /** Records one value in microseconds (negative values, from clock noise, count as 0). */
  record(us: number): void {
    const v = us > 0 ? Math.floor(us) : 0;
    this.counts[slotOf(v)]! += 1;
    this.total++;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  merge(other: Histogram | HistogramJson): void {
    if (other instanceof Histogram) {
      for (let i = 0; i < SLOTS; i++) this.counts[i]! += other.counts[i]!;
    } else {
      for (const [slot, n] of other.counts) this.counts[slot]! += n;
    }
    this.total += other.total;
    if (other.total > 0) {
      this.max = Math.max(this.max, other.max);
      this.min = Math.min(this.min, other.min);
    }
  }

  /**
   * The value at percentile `p` (0–100) in µs: the upper edge of the bucket holding that rank,
   * so a percentile is never reported lower than it was; the maximum is exact.
   */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < SLOTS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.max = 0;
    this.min = Number.POSITIVE_INFINITY;
  }

  toJSON(): HistogramJson {
    const counts: [number, number][] = [];
    for (let i = 0; i < SLOTS; i++) if (this.counts[i]! > 0) counts.push([i, this.counts[i]!]);
    return { counts, max: this.max, min: this.total > 0 ? this.min : 0, total: this.total };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const h = new Histogram();
    h.merge(json);
    return h;
  }
}

/** Slot of a non-negative integer value. */
function slotOf(v: number): number {
  if (v < SUB_BUCKETS) return v;
  // Octave k ≥ 1 covers [2^(k+5), 2^(k+6)): 64 buckets of width 2^(k-1).
  const octave = Math.min(OCTAVES, Math.floor(Math.log2(v)) - SUB_BUCKET_BITS + 1);
  const width = 2 ** (octave - 1);
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor(v / width) - SUB_BUCKETS);
  return octave * SUB_BUCKETS + sub;
}

/** Largest value that falls in `slot`. */
function upperEdge(slot: number): number {
  if (slot < SUB_BUCKETS) return slot;
  const octave = Math.floor(slot / SUB_BUCKETS);
  const sub = slot % SUB_BUCKETS;
  const width = 2 ** (octave - 1);
  return (SUB_BUCKETS + sub + 1) * width - 1;
}
