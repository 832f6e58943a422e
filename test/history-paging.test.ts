/**
 * `history` pages by `hasMore` at the protocol's largest page too (issue 11 (d): the gateway read
 * one row more than asked, the store cut it at its own cap, and a full page of 200 always said
 * `hasMore: false`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient } from './helpers/client.ts';
import { startTestGateway, type TestGateway, testConfig, token } from './helpers/gateway.ts';

describe('history paging at the largest page', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      config: testConfig({}, { limits: { rateLimitPerSec: 10_000, rateLimitBurst: 10_000 } }),
    });
  });
  after(() => gw.stop());

  it('says hasMore on a full page of maxHistoryLimit and pages to the end', async () => {
    const a = await TestClient.connect(gw.url, await token('pager'));
    const { conversation } = await a.call('createGroup', { title: 'paging', members: ['reader'] });
    const sent: string[] = [];
    for (let i = 0; i < 205; i++) {
      const r = await a.request('send', {
        conversationId: conversation.id,
        body: `m${i}`,
        clientMsgId: `p-${i}`,
      });
      assert.equal(r.op, 'sent', JSON.stringify(r));
      sent.push(String(r.messageId));
    }
    const first = await a.call('history', { conversationId: conversation.id, limit: 200 });
    assert.equal(first.messages.length, 200);
    assert.equal(first.hasMore, true);
    const rest = await a.call('history', {
      conversationId: conversation.id,
      limit: 200,
      before: first.messages[199]!.id,
    });
    assert.equal(rest.messages.length, 5);
    assert.equal(rest.hasMore, false);
    assert.deepEqual([...first.messages, ...rest.messages].map((m) => m.id).reverse(), sent);
    await a.close();
  });
});
