/**
 * The behaviour every `ModerationStore` must have (`storage.moderation` of each `Storage`):
 * last-writer-wins registers on the change's revision, in any order, idempotent, durable.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ModerationStore } from '../src/storage/moderation.ts';
import type { Storage } from '../src/storage/types.ts';
import { SnowflakeGenerator } from '../src/util/snowflake.ts';
import { useStorageFixture } from './helpers/storage-fixture.ts';
import type { StorageFixture } from './storage.contract.ts';

const uid = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

export function moderationContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`moderation store contract: ${name}`, () => {
    let s: Storage;
    let m: ModerationStore;
    const ids = new SnowflakeGenerator(1, 1);

    const store = useStorageFixture(make, (storage) => {
      s = storage;

      m = s.moderation;
    });

    it('knows nothing of a group or user it never saw', async () => {
      assert.deepEqual(await m.getGroup(uid('g')), { admins: [], banned: [] });
      assert.deepEqual(await m.listBlocked(uid('u')), []);
    });

    it('sets and clears roles; lists admins sorted, per group', async () => {
      const g = uid('g');
      const other = uid('g');
      await m.setRole({ conversationId: g, userId: 'carol', role: 'admin', revision: ids.next() });
      await m.setRole({ conversationId: g, userId: 'bob', role: 'admin', revision: ids.next() });
      await m.setRole({ conversationId: other, userId: 'dave', role: 'admin', revision: ids.next() });
      assert.deepEqual((await m.getGroup(g)).admins, ['bob', 'carol']);
      await m.setRole({ conversationId: g, userId: 'carol', role: 'member', revision: ids.next() });
      assert.deepEqual((await m.getGroup(g)).admins, ['bob']);
      assert.deepEqual((await m.getGroup(other)).admins, ['dave']);
    });

    it('bans and unbans', async () => {
      const g = uid('g');
      await m.setBan({ conversationId: g, userId: 'eve', banned: true, by: 'alice', revision: ids.next() });
      await m.setBan({
        conversationId: g,
        userId: 'mallory',
        banned: true,
        by: 'alice',
        revision: ids.next(),
      });
      assert.deepEqual((await m.getGroup(g)).banned, ['eve', 'mallory']);
      await m.setBan({ conversationId: g, userId: 'eve', banned: false, by: 'alice', revision: ids.next() });
      assert.deepEqual(await m.getGroup(g), { admins: [], banned: ['mallory'] });
    });

    it('blocks and unblocks, per blocking user', async () => {
      const u = uid('u');
      await m.setBlock({ userId: u, targetId: 'zed', blocked: true, revision: ids.next() });
      await m.setBlock({ userId: u, targetId: 'amy', blocked: true, revision: ids.next() });
      assert.deepEqual(await m.listBlocked(u), ['amy', 'zed']);
      assert.deepEqual(await m.listBlocked('zed'), []);
      await m.setBlock({ userId: u, targetId: 'zed', blocked: false, revision: ids.next() });
      assert.deepEqual(await m.listBlocked(u), ['amy']);
    });

    it('keeps the larger revision whatever order changes arrive in (regions converge)', async () => {
      const g = uid('g');
      const u = uid('u');
      const older = ids.next();
      const newer = ids.next();
      // The newer change (an unban, an unblock, a demotion) is applied first; the older arrives late.
      await m.setBan({ conversationId: g, userId: 'eve', banned: false, by: 'bob', revision: newer });
      await m.setBan({ conversationId: g, userId: 'eve', banned: true, by: 'alice', revision: older });
      await m.setBlock({ userId: u, targetId: 'eve', blocked: false, revision: newer });
      await m.setBlock({ userId: u, targetId: 'eve', blocked: true, revision: older });
      await m.setRole({ conversationId: g, userId: 'bob', role: 'member', revision: newer });
      await m.setRole({ conversationId: g, userId: 'bob', role: 'admin', revision: older });
      assert.deepEqual(await m.getGroup(g), { admins: [], banned: [] });
      assert.deepEqual(await m.listBlocked(u), []);
    });

    it('applies the same change twice as once', async () => {
      const g = uid('g');
      const change = { conversationId: g, userId: 'eve', banned: true, by: 'alice', revision: ids.next() };
      await m.setBan(change);
      await m.setBan(change);
      assert.deepEqual((await m.getGroup(g)).banned, ['eve']);
    });

    it('keeps what it stored across a reopen', async () => {
      const g = uid('g');
      const u = uid('u');
      await m.setRole({ conversationId: g, userId: 'bob', role: 'admin', revision: ids.next() });
      await m.setBan({ conversationId: g, userId: 'eve', banned: true, by: 'bob', revision: ids.next() });
      await m.setBlock({ userId: u, targetId: 'eve', blocked: true, revision: ids.next() });
      await store.reopen();
      assert.deepEqual(await m.getGroup(g), { admins: ['bob'], banned: ['eve'] });
      assert.deepEqual(await m.listBlocked(u), ['eve']);
    });
  });
}
