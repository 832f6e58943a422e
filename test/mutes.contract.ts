/** The behaviour every `MuteStore` must have (`storage.mutes` of each `Storage`). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Storage } from '../src/storage/types.ts';
import { useStorageFixture } from './helpers/storage-fixture.ts';
import type { StorageFixture } from './storage.contract.ts';

let seq = 0;
const uid = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

export function muteContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`MuteStore contract: ${name}`, () => {
    let s: Storage;
    const store = useStorageFixture(make, (storage) => {
      s = storage;
    });

    it('mutes and unmutes, per user and conversation', async () => {
      const [alice, bob, c1, c2] = [uid('alice'), uid('bob'), uid('c'), uid('c')];
      assert.equal(await s.mutes.isMuted(alice, c1), false);
      const stands = await s.mutes.set({ userId: alice, conversationId: c1, muted: true, at: 1000 });
      assert.equal(stands.muted, true);
      await s.mutes.set({ userId: alice, conversationId: c2, muted: true, at: 1000 });
      assert.equal(await s.mutes.isMuted(alice, c1), true);
      assert.equal(await s.mutes.isMuted(bob, c1), false);
      assert.deepEqual((await s.mutes.listMuted(alice)).sort(), [c1, c2].sort());
      await s.mutes.set({ userId: alice, conversationId: c1, muted: false, at: 2000 });
      assert.equal(await s.mutes.isMuted(alice, c1), false);
      assert.deepEqual(await s.mutes.listMuted(alice), [c2]);
    });

    it('keeps the newest setting whatever order they arrive in (a replicated one late or twice)', async () => {
      const [alice, c] = [uid('alice'), uid('c')];
      await s.mutes.set({ userId: alice, conversationId: c, muted: false, at: 3000 });
      const stands = await s.mutes.set({ userId: alice, conversationId: c, muted: true, at: 2000 });
      assert.equal(stands.muted, false);
      assert.equal(stands.at, 3000);
      assert.equal(await s.mutes.isMuted(alice, c), false);
      await s.mutes.set({ userId: alice, conversationId: c, muted: false, at: 3000 });
      assert.equal(await s.mutes.isMuted(alice, c), false);
    });

    it('survives a reopen', async () => {
      const [alice, c] = [uid('alice'), uid('c')];
      await s.mutes.set({ userId: alice, conversationId: c, muted: true, at: Date.now() });
      await store.reopen();
      assert.equal(await s.mutes.isMuted(alice, c), true);
    });
  });
}
