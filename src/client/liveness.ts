/**
 * Notices a gateway that stopped answering (a frozen process, a half-open TCP connection) within
 * seconds, without pinging more than an idle connection needs. While connected the client pings
 * when it has heard nothing for `intervalMs`, and also when a request has waited `PROBE_AFTER_MS`
 * for its reply; a ping answered by no frame at all within `timeoutMs` means the gateway is gone.
 *
 * Any frame counts as an answer: a gateway whose event loop runs answers `ping` at once even while
 * its store is slow, so a slow `send` alone never drops a healthy socket.
 */

/** A request unanswered this long gets a ping behind it, so a frozen gateway shows within a second. */
export const PROBE_AFTER_MS = 1000;

type Timer = ReturnType<typeof setInterval>;

export interface LivenessOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Sends a `ping` request (its reply, like any frame, reaches `heard`). */
  ping: () => void;
  /** The gateway did not answer in time; called once. */
  dead: () => void;
  now?: () => number;
}

export class Liveness {
  private heardAt: number;
  /** Since when a request has been on the wire with no frame heard after it; null if none. */
  private waitingSince: number | null = null;
  /** When the outstanding ping went out; null if none. */
  private pingAt: number | null = null;
  private timer: Timer | null = null;
  private readonly now: () => number;
  private readonly probeAfterMs: number;

  constructor(private readonly o: LivenessOptions) {
    this.now = o.now ?? Date.now;
    this.heardAt = this.now();
    this.probeAfterMs = Math.min(PROBE_AFTER_MS, o.intervalMs);
  }

  /** Starts checking, a few times per timeout so detection is not late by a whole period. */
  start(): void {
    const tickMs = Math.max(10, Math.min(250, Math.floor(Math.min(this.o.intervalMs, this.o.timeoutMs) / 4)));
    this.heardAt = this.now();
    this.timer = setInterval(() => this.check(), tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A frame arrived. */
  heard(): void {
    this.heardAt = this.now();
    this.waitingSince = null;
    this.pingAt = null;
  }

  /** A request that the gateway answers went out. */
  wrote(): void {
    this.waitingSince ??= this.now();
  }

  private check(): void {
    const now = this.now();
    if (this.pingAt !== null) {
      if (now - this.pingAt >= this.o.timeoutMs) {
        this.stop();
        this.o.dead();
      }
      return;
    }
    const idle = now - this.heardAt >= this.o.intervalMs;
    const waiting = this.waitingSince !== null && now - this.waitingSince >= this.probeAfterMs;
    if (idle || waiting) {
      this.pingAt = now;
      this.o.ping();
    }
  }
}
