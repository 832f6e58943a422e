/** Webhook events are queued without message content and get it from the store when sent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredMessage } from '../src/storage/types.ts';
import { type MessageLookup, withContent, withoutContent } from '../src/webhooks/content.ts';
import type { WebhookEvent } from '../src/webhooks/event-types.ts';

const message = {
  conversationId: 'dm:a:b',
  messageId: '42',
  senderId: 'a',
  body: 'secret text',
  createdAt: 1,
  replyTo: null,
  attachments: ['att1'],
};
const created: WebhookEvent = { id: 'evt_1', type: 'message.created', createdAt: 1, data: { message } };

const stored = (over: Partial<StoredMessage> = {}): StoredMessage =>
  ({
    conversationId: 'dm:a:b',
    messageId: 42n,
    senderId: 'a',
    body: 'edited text',
    createdAt: 1,
    attachments: [{ id: 'att2' }],
    ...over,
  }) as StoredMessage;
const lookup =
  (m: StoredMessage | null): MessageLookup =>
  async () =>
    m;

describe('webhook event content', () => {
  it('queues a message-carrying event with no body or attachments', () => {
    const queued = withoutContent(created);
    assert.ok(!JSON.stringify(queued).includes('secret'));
    assert.deepEqual(queued.type === 'message.created' && queued.data.message.attachments, []);
    assert.equal(queued.id, created.id);
  });

  it('leaves events without a message as they are', () => {
    const deleted: WebhookEvent = {
      id: 'evt_2',
      type: 'message.deleted',
      createdAt: 1,
      data: { conversationId: 'dm:a:b', messageId: '42', deletedBy: 'a' },
    };
    assert.equal(withoutContent(deleted), deleted);
  });

  it('sends the message as the store holds it now', async () => {
    const sent = await withContent(withoutContent(created), lookup(stored()));
    assert.equal(sent.type === 'message.created' && sent.data.message.body, 'edited text');
    assert.deepEqual(sent.type === 'message.created' && sent.data.message.attachments, ['att2']);
  });

  it('sends a deleted or vanished message with an empty body', async () => {
    for (const now of [stored({ state: { deleted: true } } as Partial<StoredMessage>), null]) {
      const sent = await withContent(withoutContent(created), lookup(now));
      assert.equal(sent.type === 'message.created' && sent.data.message.body, '');
      assert.deepEqual(sent.type === 'message.created' && sent.data.message.attachments, []);
    }
  });

  it('fails when the store does not answer, so the attempt is retried instead of sent empty', async () => {
    await assert.rejects(
      withContent(created, async () => {
        throw new Error('store down');
      }),
      /store down/,
    );
  });
});
