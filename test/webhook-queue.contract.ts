/**
 * The contract every `WebhookQueue` passes (LMDB in test/webhook-queue-embedded.test.ts,
 * JetStream in test/integration/webhook-queue-jetstream.test.ts). `open` returns a started
 * queue; calling it again with the same `name` opens the same durable queue anew (a restarted
 * gateway), as another process would.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { WebhookEvent } from '../src/webhooks/event-types.ts';
import type { WebhookItem, WebhookQueue } from '../src/webhooks/queue.ts';

export interface QueueFactory {
  /** A started queue; a second call with the same `name` reopens the same stored queue. */
  open(name: string, ackWaitMs: number): Promise<WebhookQueue>;
  /** Only one process opens the queue (LMDB): consumers share one instance. */
  singleProcess?: boolean;
}

let seq = 0;
export function item(endpoint = 'ep'): WebhookItem {
  const id = `evt_${process.pid}_${Date.now()}_${++seq}`;
  const event: WebhookEvent = {
    id,
    type: 'message.deleted',
    createdAt: Date.now(),
    data: { conversationId: 'c1', messageId: String(seq), deletedBy: 'alice' },
  };
  return { id: `${endpoint}.${id}`, endpoint, event };
}

export function webhookQueueContract(kind: string, factory: QueueFactory): void {
  describe(`WebhookQueue contract: ${kind}`, () => {
    const opened: WebhookQueue[] = [];
    let n = 0;
    const open = async (name = `q${++n}`, ackWaitMs = 30_000) => {
      const q = await factory.open(name, ackWaitMs);
      opened.push(q);
      return q;
    };
    after(async () => {
      await Promise.allSettled(opened.map((q) => q.close()));
    });

    it('hands out what was queued, once, and ack removes it', async () => {
      const q = await open();
      const a = item();
      await q.enqueue([a]);
      assert.equal(await q.depth(), 1);
      const d = await q.next(2000);
      assert.ok(d);
      assert.deepEqual(d.item, a);
      assert.equal(d.attempt, 1);
      await d.ack();
      assert.equal(await q.next(1000), null);
      assert.equal(await q.depth(), 0);
    });

    it('queues an id once, also when enqueued again after delivery (duplicate window)', async () => {
      const q = await open();
      const a = item();
      await q.enqueue([a]);
      await q.enqueue([a]);
      assert.equal(await q.depth(), 1);
      const d = await q.next(2000);
      assert.ok(d);
      await d.ack();
      await q.enqueue([a]);
      assert.equal(await q.next(1000), null);
    });

    it('retry hands the item out again after the delay, attempt counted', async () => {
      const q = await open();
      await q.enqueue([item()]);
      const d1 = await q.next(2000);
      assert.ok(d1);
      const t0 = Date.now();
      await d1.retry(1200);
      const d2 = await q.next(5000);
      assert.ok(d2);
      assert.ok(Date.now() - t0 >= 1000, `retried after ${Date.now() - t0} ms`);
      assert.equal(d2.item.id, d1.item.id);
      assert.equal(d2.attempt, 2);
      await d2.ack();
    });

    it('dead moves the item to the dead letters; replay queues it again from attempt 1', async () => {
      const q = await open();
      const a = item();
      await q.enqueue([a]);
      const d = await q.next(2000);
      assert.ok(d);
      await d.dead('HTTP 500');
      assert.equal(await q.depth(), 0);
      assert.equal(await q.deadCount(), 1);
      const [letter] = await q.listDead(10);
      assert.ok(letter);
      assert.deepEqual(letter.item, a);
      assert.equal(letter.attempts, 1);
      assert.equal(letter.lastError, 'HTTP 500');
      assert.equal(await q.replayDead('no-such-id'), false);
      assert.equal(await q.replayDead(a.id), true);
      assert.equal(await q.deadCount(), 0);
      const again = await q.next(2000);
      assert.ok(again);
      assert.deepEqual(again.item, a);
      assert.equal(again.attempt, 1);
      await again.ack();
    });

    it('an item queued and unsettled survives a restart and is handed out again', async () => {
      const name = `restart${++n}`;
      const q1 = await open(name, 1000);
      const a = item();
      const b = item();
      await q1.enqueue([a, b]);
      const taken = await q1.next(2000);
      assert.ok(taken);
      await q1.close();
      const q2 = await open(name, 1000);
      const seen = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const d = await q2.next(5000);
        assert.ok(d, `item ${i + 1} of 2 handed out after the restart`);
        seen.add(d.item.id);
        await d.ack();
      }
      assert.deepEqual([...seen].sort(), [a.id, b.id].sort());
      assert.equal(await q2.depth(), 0);
    });

    it('two consumers of one queue share the items, each handed out once', async () => {
      const name = `shared${++n}`;
      const q1 = await open(name);
      // The embedded queue has one process by design: its "two consumers" are two loops on one queue.
      const q2 = factory.singleProcess ? q1 : await open(name);
      const items = [item(), item(), item(), item()];
      await q1.enqueue(items);
      const got: string[] = [];
      for (const q of [q1, q2, q1, q2]) {
        const d = await q.next(2000);
        assert.ok(d);
        got.push(d.item.id);
        await d.ack();
      }
      assert.deepEqual(got.sort(), items.map((i) => i.id).sort());
    });
  });
}
