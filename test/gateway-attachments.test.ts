import { attachmentScenarios } from './attachments.scenarios.ts';
import { startTestGateway, testConfig } from './helpers/gateway.ts';

attachmentScenarios('one embedded gateway', async () => {
  const maxBytes = 512 * 1024;
  const gw = await startTestGateway({ config: testConfig({}, { attachments: { maxBytes } }) });
  return { urls: [gw.url], maxBytes, stop: () => gw.stop() };
});
