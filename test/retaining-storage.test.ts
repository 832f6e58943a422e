/**
 * `retainingStorage`: reads never return a message past its conversation's cutoff, and pages
 * stay full: an oldest-first history page starts past what expired, and the offline queue and
 * late index read on past expired entries.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RetentionPolicy } from '../src/retention/policy.ts';
import { retainingStorage } from '../src/retention/retaining-storage.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import type { Storage, StoredMessage } from '../src/storage/types.ts';
import { EPOCH_MS, snowflakeFloor } from '../src/util/snowflake.ts';

const T0 = EPOCH_MS + 100 * 24 * 3600 * 1000;
/** "Now" for the policy: an hour after T0; the period below makes everything before T0 + 30 min expire. */
const NOW = T0 + 3600_000;

function msg(conversationId: string, minute: number, senderId = 'a'): StoredMessage {
  const at = T0 + minute * 60_000;
  return {
    conversationId,
    messageId: snowflakeFloor(at),
    senderId,
    clientMsgId: null,
    body: `m${minute}`,
    createdAt: at,
  };
}

describe('retainingStorage', () => {
  let dir: string;
  let inner: EmbeddedStorage;
  let s: Storage;
  const messages: StoredMessage[] = [];
  const kept: StoredMessage[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chat-retaining-'));
    inner = new EmbeddedStorage({ dataDir: dir });
    await inner.init();
    await inner.createConversation(
      { id: 'short', kind: 'group', title: null, createdBy: 'a', createdAt: T0 - 1 },
      ['a', 'b'],
    );
    await inner.createConversation(
      { id: 'long', kind: 'group', title: null, createdBy: 'a', createdAt: T0 - 1 },
      ['a', 'b'],
    );
    // 'short' keeps 30 minutes; 'long' follows the global period (0: forever).
    await inner.retention.setConversationRetention('short', 1800, 1);
    s = retainingStorage(inner, new RetentionPolicy(inner.retention, 0, () => NOW));
    for (let minute = 0; minute < 60; minute += 5) {
      for (const c of ['short', 'long']) {
        const m = msg(c, minute + (c === 'long' ? 1 : 0));
        await inner.appendMessage(m);
        await inner.enqueueOffline('b', [m]);
        await inner.recordLate(m, m.createdAt + 20_000);
        messages.push(m);
        if (c === 'long' || m.createdAt >= NOW - 1800_000) kept.push(m);
      }
    }
  });
  after(async () => {
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ids = (ms: readonly StoredMessage[]) => ms.map((m) => m.messageId);
  const keptIn = (c: string) => kept.filter((m) => m.conversationId === c);

  it('hides expired messages from history, either direction, with full pages', async () => {
    assert.deepEqual(ids(await s.getHistory('short', { limit: 100 })), ids(keptIn('short')).reverse());
    assert.deepEqual(
      ids(await s.getHistory('short', { after: 0n, limit: 3 })),
      ids(keptIn('short').slice(0, 3)),
    );
    assert.equal((await s.getHistory('long', { limit: 100 })).length, 12);
    assert.equal(await s.getMessage('short', messages[0]!.messageId), null);
    assert.ok(await s.getMessage('long', messages[1]!.messageId));
  });

  it('reads the offline queue on past expired entries, keeping pages full', async () => {
    const page = await s.listOffline('b', 4);
    assert.deepEqual(ids(page), ids(kept.slice(0, 4)));
    const all = await s.listOffline('b', 100);
    assert.deepEqual(ids(all), ids(kept));
  });

  it('hides expired late copies and search matches', async () => {
    const late = await s.listLate('short', 0, 3);
    assert.deepEqual(
      late.map((e) => e.message.messageId),
      ids(keptIn('short').slice(0, 3)),
    );
    const found = await s.searchMessages({ conversationIds: ['short', 'long'], terms: ['m0'], limit: 10 });
    assert.deepEqual(found.messages, []);
    // The same search finds a message of a conversation kept forever.
    const kept1 = await s.searchMessages({ conversationIds: ['short', 'long'], terms: ['m1'], limit: 10 });
    assert.deepEqual(ids(kept1.messages), [messages[1]!.messageId]);
  });
});
