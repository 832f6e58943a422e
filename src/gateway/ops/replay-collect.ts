/**
 * What a replay sends, collected from its sources (the offline queue, each conversation's history
 * by id, each conversation's late index), deduplicated by id and cut to the `cap` smallest ids.
 * Each source is read in ascending id order where it has one, so a source can stop once it is
 * past what can still make the cut (`ceiling`): memory stays about twice the cap, however many
 * conversations the user has.
 */
import type { StoredMessage } from '../../storage/types.ts';

export class Collected {
  private readonly byId = new Map<bigint, StoredMessage>();
  /** Once the cap was reached: the largest id that still makes the cut. */
  private cut: bigint | null = null;
  private dropped = false;

  /** `afterId`: a truncated replay's last id; its continuation skips every id up to it. */
  constructor(
    readonly cap: number,
    private readonly afterId: bigint | null,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  /** Past the cap, ids above this cannot make the cut; null while under the cap. */
  get ceiling(): bigint | null {
    return this.cut;
  }

  /** Adds a message (once per id); false when it cannot make the cut (below afterId or above the ceiling). */
  add(m: StoredMessage): boolean {
    if (this.afterId !== null && m.messageId <= this.afterId) return false;
    if (this.cut !== null && m.messageId > this.cut) {
      this.dropped = true;
      return false;
    }
    this.byId.set(m.messageId, m);
    return true;
  }

  /** A source stopped with more to read (it reached its own cap): the replay is truncated. */
  markMore(): void {
    this.dropped = true;
  }

  /** After a source: keeps only the `cap` smallest ids, and remembers the ceiling. */
  trim(): void {
    if (this.byId.size <= this.cap) return;
    const ids = [...this.byId.keys()].sort(compare);
    for (const id of ids.slice(this.cap)) this.byId.delete(id);
    this.cut = ids[this.cap - 1]!;
    this.dropped = true;
  }

  /** In id order, at most `cap`; `truncated` when anything was left out. */
  result(): { ordered: StoredMessage[]; truncated: boolean } {
    this.trim();
    const ordered = [...this.byId.values()].sort((a, b) => compare(a.messageId, b.messageId));
    return { ordered, truncated: this.dropped };
  }
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
