/**
 * 64-bit snowflake ids: 41 bits of milliseconds since `EPOCH_MS`, 5 bits region id, 5 bits
 * worker id, 12 bits sequence (4096 ids per ms per worker). Sortable by time, unique across
 * regions and workers, and the region that minted an id can be read back from it.
 */

/** 2026-01-01T00:00:00Z. 41 bits of ms from here last until ~2095. */
export const EPOCH_MS = 1_767_225_600_000;
const REGION_BITS = 5n;
const WORKER_BITS = 5n;
const SEQUENCE_BITS = 12n;
export const MAX_REGION_ID = (1 << Number(REGION_BITS)) - 1;
export const MAX_WORKER_ID = (1 << Number(WORKER_BITS)) - 1;
const MAX_SEQUENCE = (1 << Number(SEQUENCE_BITS)) - 1;

export class SnowflakeGenerator {
  private lastMs = -1;
  private sequence = 0;
  private readonly prefix: bigint;

  constructor(
    readonly regionId: number,
    readonly workerId: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(regionId) || regionId < 0 || regionId > MAX_REGION_ID) {
      throw new RangeError(`regionId must be an integer in 0..${MAX_REGION_ID}`);
    }
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > MAX_WORKER_ID) {
      throw new RangeError(`workerId must be an integer in 0..${MAX_WORKER_ID}`);
    }
    this.prefix = (BigInt(regionId) << (WORKER_BITS + SEQUENCE_BITS)) | (BigInt(workerId) << SEQUENCE_BITS);
  }

  next(): bigint {
    let ms = this.now();
    // A clock that steps backwards must not produce ids that sort before ones already issued.
    if (ms < this.lastMs) ms = this.lastMs;
    if (ms === this.lastMs) {
      this.sequence = (this.sequence + 1) & MAX_SEQUENCE;
      if (this.sequence === 0) {
        // Sequence exhausted for this millisecond: borrow the next one.
        ms = this.lastMs + 1;
      }
    } else {
      this.sequence = 0;
    }
    this.lastMs = ms;
    return (
      (BigInt(ms - EPOCH_MS) << (REGION_BITS + WORKER_BITS + SEQUENCE_BITS)) |
      this.prefix |
      BigInt(this.sequence)
    );
  }
}

export function snowflakeTime(id: bigint): number {
  return Number(id >> (REGION_BITS + WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS;
}

export function snowflakeRegion(id: bigint): number {
  return Number((id >> (WORKER_BITS + SEQUENCE_BITS)) & BigInt(MAX_REGION_ID));
}

/** Smallest id whose timestamp is `ms` (for range queries by time). */
export function snowflakeFloor(ms: number): bigint {
  return BigInt(Math.max(0, ms - EPOCH_MS)) << (REGION_BITS + WORKER_BITS + SEQUENCE_BITS);
}

/** Ids are parsed where the wire protocol defines them; re-exported for the server's other callers. */
export { parseId } from '../protocol/index.ts';
