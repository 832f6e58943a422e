import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { EmbeddedWebhookQueue } from '../src/webhooks/embedded-queue.ts';
import { webhookQueueContract } from './webhook-queue.contract.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'webhook-queue-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

webhookQueueContract('lmdb', {
  singleProcess: true,
  async open(name, ackWaitMs) {
    const q = new EmbeddedWebhookQueue({ dataDir: path.join(dir, name), ackWaitMs });
    await q.start();
    return q;
  },
});
