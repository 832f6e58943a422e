/**
 * How the inbox's events are applied: concurrently across keys (a key is a conversation), one at
 * a time and in arrival order within a key. A region then applies many conversations' events at
 * once — the store coalesces concurrent writes into batches — while each conversation's events
 * are stored and delivered in stream order, as when everything was applied one by one.
 *
 * A failed attempt is retried in place after `retryDelayMs`, with its key's later events waiting
 * behind it, rather than handed back to JetStream: a redelivery comes back after later events
 * of the same conversation, which would then be delivered before it. Other keys go on meanwhile.
 *
 * The one exception to arrival order is a task that opens its key (a conversation's creation):
 * it goes ahead of every task of its key not in an attempt. A redelivery comes after later
 * events (a creation whose first delivery died with a gateway comes back after the ack wait, the
 * messages after it at once): they fail until the creation is applied, and a creation queued
 * behind them would wait for them forever.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { settleWithin } from '../util/deadline.ts';

/** One inbox event as the scheduler sees it; the callbacks are the link's (ack, nak, …). */
export interface KeyedTask {
  /** Tasks with equal keys run one at a time, in the order they were added. */
  readonly key: string;
  /**
   * The key's first event (a conversation's creation): nothing else of the key can succeed
   * before it, so it runs before every task of its key that is not in an attempt.
   */
  readonly opensKey?: boolean;
  /** One attempt at applying the event; a rejection is retried after the retry delay. */
  attempt(): Promise<void>;
  /** After the attempt that succeeded. */
  done(): void;
  /** After each failed attempt (`n` counts from 1), before the retry delay. */
  failed(err: unknown, n: number): void;
  /** Periodically, while the task waits behind its key or between attempts. */
  waiting(): void;
  /** At `stop()`, for a task that had not succeeded and is not in an attempt. */
  abandoned(): void;
}

export interface KeyedApplyOptions {
  /** Tasks held at once (running, retrying or waiting); `admit()` waits below it. */
  maxHeld: number;
  retryDelayMs: number;
}

export class KeyedApply {
  /** Per key, its tasks in order; the first is the one in an attempt or between attempts. */
  private readonly queues = new Map<string, KeyedTask[]>();
  /** Tasks in an attempt, with when it started. */
  private readonly attempting = new Map<KeyedTask, number>();
  /** Failed attempts so far, per task between attempts. */
  private readonly failures = new Map<KeyedTask, number>();
  private readonly drivers = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private held = 0;
  private admitted: (() => void)[] = [];

  constructor(private readonly opts: KeyedApplyOptions) {}

  /** Tasks held: added and not yet done (or abandoned). */
  get size(): number {
    return this.held;
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Resolves once fewer than `maxHeld` tasks are held, or at `stop()`. */
  admit(): Promise<void> {
    if (this.held < this.opts.maxHeld || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.admitted.push(resolve));
  }

  /** Queues a task behind its key's, and starts it at once if its key has none. */
  add(task: KeyedTask): void {
    if (this.stopped) {
      task.abandoned();
      return;
    }
    this.held++;
    const queue = this.queues.get(task.key);
    if (queue) {
      queue.push(task);
      return;
    }
    this.queues.set(task.key, [task]);
    const driver = this.drive(task.key);
    this.drivers.add(driver);
    void driver.finally(() => this.drivers.delete(driver));
  }

  /**
   * Calls `waiting()` on every held task not in an attempt (the link keeps them from timing out),
   * except behind an attempt running for longer than `stuckMs`: those are let go, to be
   * redelivered elsewhere, rather than held for as long as an attempt that may never end.
   */
  heartbeat(stuckMs: number): void {
    const now = Date.now();
    for (const queue of this.queues.values()) {
      const inAttempt = queue.find((t) => this.attempting.has(t));
      const started = inAttempt && this.attempting.get(inAttempt);
      if (started !== undefined && now - started > stuckMs) continue;
      for (const task of queue) if (!this.attempting.has(task)) task.waiting();
    }
  }

  /**
   * Starts no further attempts, gives those under way up to `graceMs`, then abandons every held
   * task that is not in an attempt. An attempt still running after that settles on its own.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping.abort();
    for (const resolve of this.admitted.splice(0)) resolve();
    await settleWithin(Promise.all(this.drivers), graceMs, undefined);
    for (const [key, queue] of this.queues) {
      const idle = queue.filter((t) => !this.attempting.has(t));
      for (const task of idle) {
        this.failures.delete(task);
        task.abandoned();
      }
      this.held -= idle.length;
      // In place: a driver whose attempt outlived the grace still holds this array.
      queue.splice(0, queue.length, ...queue.filter((t) => this.attempting.has(t)));
      if (queue.length === 0) this.queues.delete(key);
    }
  }

  /**
   * Runs a key's tasks in order (a task opening the key first) until its queue is empty or the
   * scheduler stops. A failed task is retried after the delay; the next pick may then be a task
   * opening the key that arrived meanwhile.
   */
  private async drive(key: string): Promise<void> {
    const queue = this.queues.get(key);
    while (queue && queue.length > 0 && !this.stopped) {
      const task = queue.find((t) => t.opensKey === true) ?? (queue[0] as KeyedTask);
      if (await this.attemptOnce(task)) {
        queue.splice(queue.indexOf(task), 1);
        this.held--;
        this.admitted.shift()?.();
        continue;
      }
      if (this.stopped) return;
      try {
        await sleep(this.opts.retryDelayMs, undefined, { signal: this.stopping.signal });
      } catch {
        // Aborted by stop(): the task stays held and is abandoned there.
        return;
      }
    }
    if (queue?.length === 0) this.queues.delete(key);
  }

  /** One attempt at a task: true once it succeeded (and is done). */
  private async attemptOnce(task: KeyedTask): Promise<boolean> {
    this.attempting.set(task, Date.now());
    try {
      await task.attempt();
      this.attempting.delete(task);
      this.failures.delete(task);
      task.done();
      return true;
    } catch (err) {
      this.attempting.delete(task);
      const n = (this.failures.get(task) ?? 0) + 1;
      this.failures.set(task, n);
      task.failed(err, n);
      return false;
    }
  }
}
