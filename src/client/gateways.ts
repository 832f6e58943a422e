/**
 * Which gateway URL to try next and when: round-robin over the URLs the client was given, each
 * attempt after a backoff that grows with the attempts that failed to reach a synced session,
 * and the region each URL reported in its `welcome` (for `state` events).
 */
import { type BackoffOptions, backoffDelay } from './backoff.ts';
import { CloseCode } from './socket.ts';

export class Gateways {
  private index = 0;
  /** Consecutive attempts that failed to reach a synced session. */
  private failed = 0;
  private readonly regionByUrl = new Map<string, string>();

  constructor(
    private readonly urls: readonly string[],
    private readonly backoff: BackoffOptions,
    private readonly resendBackoff: BackoffOptions,
    private readonly random: () => number,
  ) {}

  /** The URL of the current (or next) attempt. */
  get current(): string {
    return this.urls[this.index % this.urls.length]!;
  }

  get failures(): number {
    return this.failed;
  }

  regionOf(url: string): string | null {
    return this.regionByUrl.get(url) ?? null;
  }

  learnRegion(url: string, region: string): void {
    this.regionByUrl.set(url, region);
  }

  /** A session synced: it was healthy, the backoff starts over. */
  synced(): void {
    this.failed = 0;
  }

  /** A socket closed with `closeCode` (or never opened): moves to the next URL, and says when to try it. */
  next(closeCode: number): { url: string; delayMs: number } {
    // Flooding (4429) means "back off": start from a longer delay.
    if (closeCode === CloseCode.RateLimited) this.failed = Math.max(this.failed, 4);
    // Leaving a healthy session because its gateway froze or its region cannot serve: the
    // next URL at once. A region that sent us away is up and answering, only its services are
    // not: try the others every few seconds at most (a refused attempt costs them an upgrade),
    // so the client is back within seconds of any region healing.
    const moving = closeCode === CloseCode.RegionUnavailable || closeCode === CloseCode.ClientTimeout;
    const delayMs =
      moving && this.failed === 0
        ? 0
        : backoffDelay(
            this.failed,
            closeCode === CloseCode.RegionUnavailable ? this.resendBackoff : this.backoff,
            this.random,
          );
    this.failed++;
    this.index = (this.index + 1) % this.urls.length;
    return { url: this.urls[this.index]!, delayMs };
  }
}
