/**
 * The replication backlog gauges (src/gateway/replication-metrics.ts): a scrape reads the backlog
 * once for all of them and shows what it read; a failed read or an unknown figure shows no
 * sample rather than a zero; without replication the series are named but empty.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerReplicationMetrics } from '../src/gateway/replication-metrics.ts';
import type { CrossRegionBacklog } from '../src/replication/index.ts';

const BACKLOG: CrossRegionBacklog = {
  region: 'us-east',
  inboxPending: 4,
  peers: [
    { region: 'eu-west', reachable: true, inbound: 12, inboundIdleMs: 1500, outbound: 3, error: null },
    {
      region: 'ap-south',
      reachable: false,
      inbound: null,
      inboundIdleMs: null,
      outbound: null,
      error: 'timeout',
    },
  ],
};

describe('replication metrics', () => {
  it('show the backlog, one read per scrape, unknown figures left out', async () => {
    const registry = new Registry();
    let reads = 0;
    let fail = false;
    registerReplicationMetrics(registry, async (timeoutMs) => {
      assert.ok(timeoutMs > 0);
      reads++;
      if (fail) throw new Error('link not started');
      return BACKLOG;
    });
    const text = await registry.metrics();
    assert.equal(reads, 1);
    assert.match(text, /^chat_replication_inbox_pending\{inbox="us-east"\} 4$/m);
    assert.match(text, /^chat_replication_inbound_backlog\{peer="eu-west"\} 12$/m);
    assert.match(text, /^chat_replication_outbound_backlog\{peer="eu-west"\} 3$/m);
    assert.match(text, /^chat_replication_inbound_idle_seconds\{peer="eu-west"\} 1\.5$/m);
    assert.match(text, /^chat_replication_peer_reachable\{peer="eu-west"\} 1$/m);
    assert.match(text, /^chat_replication_peer_reachable\{peer="ap-south"\} 0$/m);
    assert.doesNotMatch(text, /backlog\{peer="ap-south"\}/);

    await new Promise((r) => setTimeout(r, 1100));
    fail = true;
    const after = await registry.metrics();
    assert.equal(reads, 2);
    assert.match(after, /^# TYPE chat_replication_inbox_pending gauge$/m);
    assert.doesNotMatch(after, /^chat_replication_/m, 'no samples after a failed read');
  });

  it('are named but empty without replication', async () => {
    const registry = new Registry();
    registerReplicationMetrics(registry, undefined);
    const text = await registry.metrics();
    for (const name of [
      'inbox_pending',
      'inbound_backlog',
      'outbound_backlog',
      'inbound_idle_seconds',
      'peer_reachable',
    ]) {
      assert.match(text, new RegExp(`^# TYPE chat_replication_${name} gauge$`, 'm'));
    }
    assert.doesNotMatch(text, /^chat_replication_/m);
  });
});
