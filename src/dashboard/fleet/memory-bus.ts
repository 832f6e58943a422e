/** The in-process `StatsBus`: gateways sharing one `MemoryStatsHub` hear each other (tests, embedded mode). */
import type { GatewayStats } from '../types.ts';
import type { StatsBus, StatsListener } from './bus.ts';

/** What in-process gateways share; a bus with none of its own gets a private one (it hears only itself). */
export class MemoryStatsHub {
  readonly listeners = new Set<StatsListener>();
}

export class MemoryStatsBus implements StatsBus {
  readonly kind = 'memory' as const;
  private listener: StatsListener | null = null;
  private closed = false;

  constructor(private readonly hub: MemoryStatsHub = new MemoryStatsHub()) {}

  async start(onStats: StatsListener): Promise<void> {
    if (this.closed) return;
    this.listener = onStats;
    this.hub.listeners.add(onStats);
  }

  publish(stats: GatewayStats): void {
    if (this.closed) return;
    // A copy per listener, as if it had crossed the wire: nobody shares the publisher's object.
    for (const l of [...this.hub.listeners]) l(structuredClone(stats));
  }

  error(): string | null {
    return null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.listener) this.hub.listeners.delete(this.listener);
    this.listener = null;
  }
}
