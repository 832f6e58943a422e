/**
 * The server API across regions on real services: a revocation or a disconnect made through
 * region A's API closes the user's session in region B within seconds, and region B refuses the
 * revoked token from then on (it stored the revocation it received through replication).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode } from '../../src/protocol/index.ts';
import { API_KEY, api } from '../api.scenarios.ts';
import { TestClient } from '../helpers/client.ts';
import { token } from '../helpers/gateway.ts';
import { startTwoRegions, type TwoRegions } from '../helpers/two-regions.ts';

/** "Within a few seconds": replication's apply plus the region's control push. */
const CLOSE_WITHIN_MS = 5000;

describe('server API across two regions (Cassandra + Redis + NATS)', () => {
  let regions: TwoRegions;
  before(async () => {
    regions = await startTwoRegions({
      keyspacePrefix: 'xapi',
      pins: { alice: 'eu-west', bob: 'eu-west' },
      config: { api: { keys: { backend: API_KEY } } },
    });
  });
  after(async () => {
    await regions?.close();
  });

  it("a revocation in us-east closes the user's session in eu-west within seconds and is refused there", async () => {
    const us = regions.gateways.get('us-east')!;
    const eu = regions.gateways.get('eu-west')!;
    const tok = await token('alice');
    const c = await TestClient.connect(eu.url, tok);
    await c.waitFor((f) => f.op === 'synced', 30_000);
    const t0 = Date.now();
    const r = await api(us.httpUrl, 'POST', '/v1/users/alice/revoke', {});
    assert.equal(r.status, 200);
    assert.equal(await c.waitClose(CLOSE_WITHIN_MS), CloseCode.Revoked);
    assert.ok(Date.now() - t0 < CLOSE_WITHIN_MS);
    // Both regions refuse the token now: us-east at once, eu-west from its stored copy.
    assert.equal(await TestClient.connectExpectingStatus(us.url, tok), 401);
    assert.equal(await TestClient.connectExpectingStatus(eu.url, tok), 401);
    // Stored durably in eu-west's own keyspace.
    const rows = await regions.cql.execute(
      `SELECT key FROM ${regions.keyspaces['eu-west']}.token_revocations WHERE scope = 'user'`,
    );
    assert.ok(rows.rows.some((row) => row.get('key') === 'alice'));
  });

  it('a disconnect in us-east closes the session in eu-west; the user may reconnect', async () => {
    const us = regions.gateways.get('us-east')!;
    const eu = regions.gateways.get('eu-west')!;
    const c = await TestClient.connect(eu.url, await token('bob'));
    await c.waitFor((f) => f.op === 'synced', 30_000);
    const r = await api(us.httpUrl, 'POST', '/v1/users/bob/disconnect');
    assert.equal(r.status, 200);
    assert.equal(await c.waitClose(CLOSE_WITHIN_MS), CloseCode.Revoked);
    const back = await TestClient.connect(eu.url, await token('bob'));
    await back.waitFor((f) => f.op === 'synced', 30_000);
    await back.call('ping');
    await back.close();
  });
});
