/**
 * Replicated moderation (events `mr`, `mb`, `mk`): applied to the region's moderation store in
 * any order with the later change winning, never republished, and handed to the sink so the
 * gateway drops what it cached; the outbox side publishes each change the gateway makes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Applier, type ModerationScope, type ReplicationSink } from '../src/replication/apply.ts';
import { StreamEraser } from '../src/replication/erase.ts';
import { decodeEvent, type ReplicationEvent } from '../src/replication/events.ts';
import type { CrossRegionLink } from '../src/replication/link.ts';
import { OutboxPublisher, replicatingStorage } from '../src/replication/outbox.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import { SnowflakeGenerator } from '../src/util/snowflake.ts';

function recordingSink(): ReplicationSink & { scopes: ModerationScope[] } {
  const scopes: ModerationScope[] = [];
  return {
    scopes,
    async deliverMessage() {},
    async deliverConversation() {},
    async deliverReceipt() {},
    async deliverChange() {},
    async moderationChanged(scope) {
      scopes.push(scope);
    },
  };
}

describe('replication of moderation', () => {
  let dir: string;
  let storage: EmbeddedStorage;
  const ids = new SnowflakeGenerator(2, 1);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chat-repl-mod-'));
    storage = new EmbeddedStorage({ dataDir: dir });
    await storage.init();
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies bans, roles and blocks in any order, the later change winning, and tells the sink', async () => {
    const applier = new Applier(storage);
    const sink = recordingSink();
    const [older, newer] = [ids.next().toString(), ids.next().toString()];
    const events: Array<[ReplicationEvent, string]> = [
      [
        { k: 'mb', conversationId: 'g:7', userId: 'eve', banned: false, by: 'bob', rev: newer },
        `mb:${newer}`,
      ],
      [{ k: 'mb', conversationId: 'g:7', userId: 'eve', banned: true, by: 'ann', rev: older }, `mb:${older}`],
      [{ k: 'mr', conversationId: 'g:7', userId: 'bob', role: 'admin', rev: older }, `mr:${older}`],
      [{ k: 'mk', userId: 'ann', targetId: 'mal', blocked: true, rev: older }, `mk:${older}`],
    ];
    for (const [e, id] of events) await applier.apply(e, id, sink);
    // A redelivery changes nothing and still invalidates (cheap; the first may have been lost).
    await applier.apply(events[3]![0], events[3]![1], sink);
    assert.deepEqual(await storage.moderation.getGroup('g:7'), { admins: ['bob'], banned: [] });
    assert.deepEqual(await storage.moderation.listBlocked('ann'), ['mal']);
    assert.deepEqual(sink.scopes, [
      { kind: 'bans', conversationId: 'g:7' },
      { kind: 'bans', conversationId: 'g:7' },
      { kind: 'roles', conversationId: 'g:7' },
      { kind: 'blocks', userId: 'ann' },
      { kind: 'blocks', userId: 'ann' },
    ]);
  });

  it('publishes each change the gateway makes, keyed by conversation or by the blocking user', async () => {
    const published: Array<{ event: ReplicationEvent; id: string; key: string | undefined }> = [];
    const link = {
      async publish(data: Uint8Array, id: string, key?: string) {
        published.push({ event: decodeEvent(data), id, key });
      },
    } as unknown as CrossRegionLink;
    const eraser = new StreamEraser({ erase: async () => 0, eraseInboxEvent: async () => {} });
    const store = replicatingStorage(storage, new OutboxPublisher(link), eraser);
    const rev = ids.next();
    await store.moderation.setBan({
      conversationId: 'g:8',
      userId: 'eve',
      banned: true,
      by: 'ann',
      revision: rev,
    });
    await store.moderation.setRole({ conversationId: 'g:8', userId: 'bob', role: 'admin', revision: rev });
    await store.moderation.setBlock({ userId: 'ann', targetId: 'mal', blocked: false, revision: rev });
    assert.deepEqual(
      published.map((p) => [p.event.k, p.id, p.key]),
      [
        ['mb', `mb:${rev}`, 'g:8'],
        ['mr', `mr:${rev}`, 'g:8'],
        ['mk', `mk:${rev}`, 'user:ann'],
      ],
    );
    assert.deepEqual(await storage.moderation.getGroup('g:8'), { admins: ['bob'], banned: ['eve'] });
  });
});
