/**
 * The resume position the client holds (docs/protocol.md, "Resume positions"): an opaque token
 * the server hands out on live `message` frames (`pos`) and at the end of each replay
 * (`synced.position`), sent back on the next connect (`resume`) and with `sync`.
 *
 * A position promises that everything before it reached the app, so it is taken only once that
 * is true: a live frame's `pos` when the frame is delivered at once (not during a replay, whose
 * end brings a newer one anyway), a replay's position once every replay running has ended and
 * released what it held. The newest one received wins, not the largest (the server's lookback
 * absorbs small inversions). After a truncated replay, live positions are ignored until the
 * continuation (which the client asks for at once) has ended: they would skip its rest.
 */
import { isPositionToken } from './types.ts';

export class ResumePositions {
  /** Everything before it reached the app: what the next connect sends, and what is persisted. */
  private committed: string | null = null;
  /** The newest replay position of a replay whose messages are still held (another one runs). */
  private pending: string | null = null;
  /** The last replay was truncated: its continuation has not ended yet. */
  private continuing = false;

  constructor(private readonly onCommit: (position: string) => void) {}

  /** For the next connect (`resume`). */
  get forConnect(): string | null {
    return this.committed;
  }

  /**
   * For a `sync` on the open connection: may be a position whose replay's messages are still
   * held in this session (they are delivered when the replays end, or replayed again from
   * `forConnect` if the connection drops first).
   */
  get forSync(): string | null {
    return this.pending ?? this.committed;
  }

  /** A position loaded from storage (ignored if malformed, or if one was received already). */
  restore(position: string | null): void {
    if (this.committed === null && isPositionToken(position)) this.committed = position;
  }

  /** A live frame's `pos`, delivered to the app now (`replaying`: a replay runs). */
  live(pos: unknown, replaying: boolean): void {
    if (replaying || this.continuing || !isPositionToken(pos)) return;
    this.commit(pos);
  }

  /**
   * A replay ended with `synced`. `stillReplaying`: another replay runs, so this one's messages
   * are still held; its position is kept for `sync` and committed when the last replay ends.
   */
  synced(position: unknown, truncated: boolean, stillReplaying: boolean): void {
    if (!isPositionToken(position)) return;
    this.continuing = truncated;
    if (stillReplaying) this.pending = position;
    else {
      this.pending = null;
      this.commit(position);
    }
  }

  /** The last running replay ended without a position of its own (failed): commit a held one. */
  replaysEnded(): void {
    if (this.pending === null) return;
    const p = this.pending;
    this.pending = null;
    this.commit(p);
  }

  /** The connection dropped: what was held is replayed again from the committed position. */
  dropped(): void {
    this.pending = null;
  }

  private commit(position: string): void {
    if (position === this.committed) return;
    this.committed = position;
    this.onCommit(position);
  }
}
