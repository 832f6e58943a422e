/**
 * What only the Cassandra store's search has (the contract in test/storage-search.contract.ts
 * runs on it from storage-cassandra.test.ts): the terms column and its SAI index as migration 4
 * leaves them, and the per-call partition budget — short pages with a cursor that still lead,
 * page by page, to every match once and in order.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import cassandra from 'cassandra-driver';
import { searchTerms } from '../../src/protocol/search.ts';
import { BUCKET_MS, bucketOf, toLong } from '../../src/storage/cassandra/rows.ts';
import { CassandraStorage } from '../../src/storage/cassandra/storage.ts';
import type { StoredMessage } from '../../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../../src/util/snowflake.ts';
import { type CassandraEndpoint, getSharedCassandra } from '../helpers/cassandra.ts';

const BASE = EPOCH_MS + 120 * 24 * 3600 * 1000;

describe('CassandraStorage search', () => {
  let node: CassandraEndpoint & { close(): Promise<void> };
  let raw: cassandra.Client;
  let s: CassandraStorage;
  const ks = `search_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

  before(async () => {
    node = await getSharedCassandra();
    raw = new cassandra.Client({
      contactPoints: node.contactPoints,
      localDataCenter: node.localDataCenter,
      protocolOptions: { port: node.port },
    });
    await raw.connect();
    // Two partitions per call at most: every walk over more than one bucket stops early.
    s = new CassandraStorage({
      contactPoints: node.contactPoints,
      port: node.port,
      localDataCenter: node.localDataCenter,
      keyspace: ks,
      searchPartitionBudget: 2,
    });
    await s.init();
  });
  after(async () => {
    await s?.close();
    await raw?.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
    await raw?.shutdown();
    await node?.close();
  });

  const msg = (conversationId: string, ms: number, body: string): StoredMessage => ({
    conversationId,
    messageId: snowflakeFloor(ms),
    senderId: 'a',
    clientMsgId: null,
    body,
    createdAt: ms,
  });

  it('stores each body’s search terms in the row, indexed by SAI on the set’s values', async () => {
    const c = `g:terms-${randomBytes(3).toString('hex')}`;
    await s.createConversation({ id: c, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
    const m = msg(c, BASE + 1000, 'Hello, hello WORLD — fox-trot');
    await s.appendMessage(m);
    const rs = await raw.execute(
      `SELECT terms FROM ${ks}.messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?`,
      [c, bucketOf(m.createdAt), toLong(m.messageId)],
      { prepare: true },
    );
    assert.deepEqual(
      [...((rs.first()?.get('terms') as string[] | undefined) ?? [])].sort(),
      searchTerms(m.body).sort(),
    );
    assert.deepEqual(searchTerms(m.body), ['hello', 'world', 'fox', 'trot']);
    const index = await raw.execute(
      'SELECT options FROM system_schema.indexes WHERE keyspace_name = ? AND table_name = ? AND index_name = ?',
      [ks, 'messages', 'messages_terms'],
      { prepare: true },
    );
    const options = index.first()?.get('options') as Record<string, string>;
    assert.equal(options.target, 'values(terms)');
    assert.match(options.class_name ?? '', /^(sai|.*StorageAttachedIndex)$/);
  });

  it('stops at its partition budget with a cursor; following it finds every match once, in order', async () => {
    const convs = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const id = `g:budget-${i}-${randomBytes(3).toString('hex')}`;
        await s.createConversation({ id, kind: 'group', title: 't', createdBy: 'a', createdAt: BASE }, ['a']);
        return id;
      }),
    );
    // Matches in buckets 0, 2 and 4 of three conversations, and an empty bucket between.
    const expected: bigint[] = [];
    for (const bucket of [0, 2, 4]) {
      for (const [i, c] of convs.entries()) {
        const m = msg(c, BASE + bucket * BUCKET_MS + i * 1000, `budget needle ${bucket}`);
        await s.appendMessage(m);
        await s.appendMessage(msg(c, m.createdAt + 1, 'hay'));
        expected.unshift(m.messageId);
      }
    }
    const seen: bigint[] = [];
    let shortPages = 0;
    let before: bigint | undefined;
    for (let call = 0; call < 40; call++) {
      const page = await s.searchMessages({
        conversationIds: convs,
        terms: ['needle'],
        limit: 4,
        ...(before !== undefined ? { before } : {}),
      });
      seen.push(...page.messages.map((m) => m.messageId));
      if (page.nextBefore === null) break;
      if (page.messages.length < 4) shortPages++;
      before = page.nextBefore;
    }
    assert.deepEqual(seen, expected);
    assert.ok(shortPages > 0, 'the budget cut some pages short');
  });
});
