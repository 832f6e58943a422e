import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayScenarios } from './gateway.scenarios.ts';
import { changeScenarios } from './gateway-changes.scenarios.ts';
import { moderationScenarios } from './gateway-moderation.scenarios.ts';
import { threadScenarios } from './gateway-threads.scenarios.ts';
import { TestClient } from './helpers/client.ts';
import { oneEmbeddedGateway, twoEmbeddedGateways } from './helpers/embedded-envs.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway, testConfig, token } from './helpers/gateway.ts';

const oneGateway = () => oneEmbeddedGateway();
const twoGateways = twoEmbeddedGateways;

gatewayScenarios('one embedded gateway', oneGateway);
gatewayScenarios('two embedded gateways on one in-process bus', twoGateways);
changeScenarios('one embedded gateway', oneGateway);
changeScenarios('two embedded gateways on one in-process bus', twoGateways);
threadScenarios('one embedded gateway', oneGateway);
threadScenarios('two embedded gateways on one in-process bus', twoGateways);
moderationScenarios('one embedded gateway', oneGateway);
moderationScenarios('two embedded gateways on one in-process bus', twoGateways);

describe('edit window', () => {
  it('refuses an edit past limits.editWindowMs with edit_window_passed; a delete has no window', async () => {
    const gw = await startTestGateway({ config: testConfig({}, { limits: { editWindowMs: 50 } }) });
    const alice = await TestClient.connect(gw.url, await token('alicewin'));
    try {
      await alice.waitFor((f) => f.op === 'synced');
      const welcome = await alice.waitFor((f) => f.op === 'welcome');
      assert.equal((welcome.limits as { editWindowMs: number }).editWindowMs, 50);
      const conv = 'dm:alicewin:bobwin';
      const { messageId } = await alice.call('send', { conversationId: conv, body: 'old news' });
      await eventually(async () => {
        const r = await alice.request('edit', { conversationId: conv, messageId, body: 'rewritten' });
        assert.equal(r.code, 'edit_window_passed');
        assert.equal((r.details as { editWindowMs: number }).editWindowMs, 50);
      });
      const deleted = await alice.call('delete', { conversationId: conv, messageId });
      assert.equal(deleted.message.state?.deleted, true);
    } finally {
      await alice.close();
      await gw.stop();
    }
  });
});
