import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { EmbeddedStorage, padId } from '../src/storage/embedded.ts';
import { padTime } from '../src/storage/embedded-keys.ts';
import { createStorage } from '../src/storage/index.ts';
import { attachmentContract } from './attachments.contract.ts';
import { homeMoveContract } from './home-moves.contract.ts';
import { moderationContract } from './moderation.contract.ts';
import { muteContract } from './mutes.contract.ts';
import { revocationContract } from './revocations.contract.ts';
import { storageContract } from './storage.contract.ts';
import { retentionContract } from './storage-retention.contract.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'chat-storage-'));
}

storageContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

storageContract('embedded via createStorage', async () => {
  const dir = join(await tempDir(), 'nested', 'data');
  return {
    storage: createStorage({ kind: 'embedded', dataDir: dir }),
    reopen: async () => createStorage({ kind: 'embedded', dataDir: dir }),
    cleanup: () => rm(join(dir, '..', '..'), { recursive: true, force: true }),
  };
});

attachmentContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

revocationContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

moderationContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

homeMoveContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

muteContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('EmbeddedStorage keys', () => {
  it('pads ids to a width where string order is numeric order', () => {
    const values = [0n, 9n, 10n, 4_194_304n, 2n ** 53n + 1n, 2n ** 63n - 1n];
    const padded = values.map(padId);
    assert.ok(padded.every((p) => p.length === 20));
    assert.deepEqual([...padded].sort(), padded);
  });

  it('pads visibility times to a width where string order is numeric order', () => {
    const values = [0, 9, 10, Date.UTC(2026, 10, 30), 8.64e15];
    const padded = values.map(padTime);
    assert.ok(padded.every((p) => p.length === 16));
    assert.deepEqual([...padded].sort(), padded);
  });

  it('opens a data directory whose name has a dot, as mktemp -d makes', async () => {
    const dir = join(await tempDir(), 'data.v1');
    try {
      const s = new EmbeddedStorage({ dataDir: dir });
      await s.init();
      const conv = { id: 'g:1', kind: 'group' as const, title: 't', createdBy: 'a', createdAt: Date.now() };
      await s.createConversation(conv, ['a']);
      await s.close();
      const again = new EmbeddedStorage({ dataDir: dir });
      await again.init();
      assert.equal((await again.getConversation('g:1'))?.title, 't');
      await again.close();
    } finally {
      await rm(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('indexes for search, once, the messages of a store written before the search index', async () => {
    const dir = await tempDir();
    try {
      const s = new EmbeddedStorage({ dataDir: dir });
      await s.init();
      const conv = { id: 'g:1', kind: 'group' as const, title: 't', createdBy: 'a', createdAt: Date.now() };
      await s.createConversation(conv, ['a']);
      const m = {
        conversationId: 'g:1',
        messageId: 1n << 30n,
        senderId: 'a',
        clientMsgId: null,
        body: 'Old words',
        createdAt: 1,
      };
      await s.appendMessage(m);
      await s.close();
      // Make it look like a store from before search: no index, no marker.
      const root = open({ path: dir, maxDbs: 16, noSubdir: false });
      await root.openDB({ name: 'search' }).clearAsync();
      await root.openDB({ name: 'meta' }).remove('searchIndexed');
      await root.close();

      const again = new EmbeddedStorage({ dataDir: dir });
      await again.init();
      const page = await again.searchMessages({
        conversationIds: ['g:1'],
        terms: ['old', 'words'],
        limit: 5,
      });
      assert.deepEqual(page, { messages: [m], nextBefore: null });
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to be used before init()', async () => {
    const dir = await tempDir();
    try {
      const s = new EmbeddedStorage({ dataDir: dir });
      await assert.rejects(s.getConversation('x'), /init\(\)/);
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

retentionContract('embedded', async () => {
  const dir = await tempDir();
  return {
    storage: new EmbeddedStorage({ dataDir: dir }),
    reopen: async () => new EmbeddedStorage({ dataDir: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
