/**
 * When a message becomes visible in this region, and the resume positions that follow from it
 * (docs/protocol.md, "Resume positions"; docs/architecture.md, "Resume positions"). A message is
 * visible once this gateway is about to fan it out; one made visible more than `LATE_MS` after its
 * id was minted (a replica applied late, a resend of a send whose first attempt died) is written
 * to the store's late index first, because a replay by position finds the others by id.
 */
import { formatPosition, type ResumePosition } from '../../protocol/index.ts';
import { LATE_MS, type Storage, type StoredMessage } from '../../storage/types.ts';
import { snowflakeTime } from '../../util/snowflake.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Tasks } from './tasks.ts';

export type VisiblePath = 'send' | 'resend' | 'replica';

export class Visibility {
  constructor(
    private readonly storage: Storage,
    /** This gateway's region: every position it issues is on its clock. */
    readonly region: string,
    /** `resume.lookbackMs`: how far a replay reads back from a position. */
    private readonly lookbackMs: number,
    private readonly metrics: GatewayMetrics,
    private readonly tasks: Tasks,
  ) {}

  /** The position token for time `at` in this region (or `region`, continuing another's). */
  token(at: number, afterId: bigint | null = null, region = this.region): string {
    return formatPosition({ region, t: at, afterId } satisfies ResumePosition);
  }

  /** True when the message becomes visible at `at` more than `LATE_MS` after its id's time. */
  isLate(message: StoredMessage, at: number): boolean {
    return at - snowflakeTime(message.messageId) > LATE_MS;
  }

  /**
   * Stamps the message visible now and, when it is late, records it in the late index; resolves
   * with the visibility time. Call it before the message is acked or fanned out: a failure must
   * fail the send (or the replica's apply) so that it is retried.
   */
  async markVisible(message: StoredMessage, path: VisiblePath, at = Date.now()): Promise<number> {
    if (this.isLate(message, at)) {
      await this.storage.recordLate(message, at);
      this.metrics.lateRecorded.inc({ path });
    }
    return at;
  }

  /**
   * The `pos` for a fan-out that happens now, of a message stamped visible at `visibleAt`. A
   * fan-out held back behind an earlier write of the same conversation (`OrderedDelivery`) can
   * happen long after the stamp; past the lookback, a late message is recorded again at the
   * fan-out time, so a device whose position passed the stamp while it waited still finds it.
   */
  positionAtFanOut(message: StoredMessage, visibleAt: number, path: VisiblePath): string {
    const now = Date.now();
    if (now - visibleAt > this.lookbackMs && this.isLate(message, now)) {
      this.tasks.background('late', this.markVisible(message, path, now));
    }
    return this.token(Math.max(now, visibleAt));
  }
}
