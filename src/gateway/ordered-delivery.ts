/**
 * Keeps live delivery of one conversation in message-id order on this gateway even though the
 * durable writes that precede it complete out of order. An id is reserved (synchronously, right
 * after it is minted, so reservations are in id order); when its write finishes the delivery is
 * queued, and deliveries run strictly in reservation order. A failed write releases its slot.
 */
interface Slot {
  done: boolean;
  run: (() => void) | null;
}

export class OrderedDelivery {
  private readonly queues = new Map<string, Slot[]>();

  reserve(key: string): { complete(run: () => void): void; cancel(): void } {
    const slot: Slot = { done: false, run: null };
    let queue = this.queues.get(key);
    if (!queue) {
      queue = [];
      this.queues.set(key, queue);
    }
    queue.push(slot);
    return {
      complete: (run) => {
        slot.done = true;
        slot.run = run;
        this.flush(key);
      },
      cancel: () => {
        slot.done = true;
        slot.run = null;
        this.flush(key);
      },
    };
  }

  private flush(key: string): void {
    const queue = this.queues.get(key);
    if (!queue) return;
    let i = 0;
    while (i < queue.length && queue[i]!.done) {
      const run = queue[i]!.run;
      i++;
      if (run) run();
    }
    if (i === queue.length) this.queues.delete(key);
    else if (i > 0) queue.splice(0, i);
  }

  /** Conversations with deliveries waiting on an earlier write (for tests and metrics). */
  get pending(): number {
    return this.queues.size;
  }
}
