/**
 * Saves the newest value of something the client persists (the resume position, `lastSeenId`):
 * one write at a time, and a value that changes during a write is saved once more after it —
 * only the newest, however often it changed. So a slow storage never sees writes pile up, and
 * never ends on an older value than the last one asked for.
 */
export class LatestSave {
  private saving = false;
  private dirty = false;

  constructor(
    /** The value now; null: nothing to save yet. */
    private readonly current: () => string | null,
    private readonly save: (value: string) => Promise<void>,
    private readonly onError: (cause: unknown) => void,
  ) {}

  /** Saves the current value, now or after the write under way. */
  request(): void {
    if (this.saving) {
      this.dirty = true;
      return;
    }
    const value = this.current();
    if (value === null) return;
    this.saving = true;
    this.dirty = false;
    this.save(value).then(
      () => this.done(),
      (cause: unknown) => {
        this.onError(cause);
        this.done();
      },
    );
  }

  private done(): void {
    this.saving = false;
    if (this.dirty) this.request();
  }
}
