import { after, before } from 'node:test';
import { JetStreamWebhookQueue } from '../../src/webhooks/jetstream-queue.ts';
import { type NatsHandle, startNats } from '../helpers/nats.ts';
import { webhookQueueContract } from '../webhook-queue.contract.ts';

let nats: NatsHandle;
before(async () => {
  nats = await startNats({ jetstream: true });
});
after(async () => {
  await nats?.close();
});

webhookQueueContract('jetstream', {
  async open(name, ackWaitMs) {
    const q = new JetStreamWebhookQueue({ servers: [nats.url], region: name, ackWaitMs });
    await q.start();
    return q;
  },
});
