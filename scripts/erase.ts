/**
 * Erases every message a user sent, in every region, through a gateway's server API, then waits
 * for each region's report and prints it (docs/operations.md, "Retention and erasure").
 *
 *   npm run erase -- --user alice --url http://gw.us-east:8080 --regions 3
 *
 * Flags (or environment variables):
 *   --user ID          the user whose messages go (required)
 *   --url URL          CHAT_API_URL    a gateway (any region), default http://127.0.0.1:8080
 *   --key KEY          CHAT_API_KEY    an API key or admin token (sent as Authorization: Bearer)
 *   --regions N        how many regions' reports to wait for, default 1
 *   --request ID       read the reports of an earlier request instead of making one
 *   --timeout S        give up waiting after S seconds, default 3600
 *
 * Prints progress while regions run, then each region's rows removed per table and the message
 * ids. Exit code 0 when every region is done, 1 on a failed region or an error, 2 on bad arguments.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ErasureRecord } from '../src/storage/retention.ts';
import { apiClient } from './api-client.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string' },
      url: { type: 'string', default: process.env.CHAT_API_URL ?? 'http://127.0.0.1:8080' },
      key: { type: 'string', default: process.env.CHAT_API_KEY ?? '' },
      regions: { type: 'string', default: '1' },
      request: { type: 'string' },
      timeout: { type: 'string', default: '3600' },
    },
  });
  const regions = Number(values.regions);
  if ((!values.user && !values.request) || !Number.isInteger(regions) || regions < 1) {
    console.error('usage: npm run erase -- --user ID [--url URL] [--key KEY] [--regions N]');
    return 2;
  }
  const call = apiClient(values.url!, values.key!);

  let requestId = values.request;
  if (!requestId) {
    const req = (await call('POST', '/v1/erasures', { userId: values.user })) as { requestId: string };
    requestId = req.requestId;
    console.log(`erasure ${requestId} of ${values.user} requested`);
  }
  const deadline = Date.now() + Number(values.timeout) * 1000;
  for (;;) {
    const status = (await call('GET', `/v1/erasures/${encodeURIComponent(requestId)}`)) as {
      regions: ErasureRecord[];
    };
    const finished = status.regions.filter((r) => r.status !== 'running');
    const line = status.regions
      .map((r) => `${r.region}: ${r.status} (${r.progress.removed} removed, ${r.progress.scanned} scanned)`)
      .join('; ');
    console.log(line || 'no region has reported yet');
    if (finished.length >= regions) {
      for (const r of status.regions) {
        console.log(`\n${r.region}: ${r.status}${r.error ? ` — ${r.error}` : ''}`);
        for (const [table, n] of Object.entries(r.report?.tables ?? {})) console.log(`  ${table}: ${n}`);
        console.log(`  messages: ${(r.report?.messageIds ?? []).join(' ') || '-'}`);
        console.log(`  attachments: ${(r.report?.attachmentIds ?? []).join(' ') || '-'}`);
      }
      return status.regions.every((r) => r.status === 'done') ? 0 : 1;
    }
    if (Date.now() > deadline) {
      console.error(`gave up after ${values.timeout} s; read the reports later with --request ${requestId}`);
      return 1;
    }
    await sleep(2000);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
