/** The behaviour every `RevocationStore` must have (`storage.revocations` of each `Storage`). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Revocation } from '../src/storage/revocations.ts';
import type { Storage } from '../src/storage/types.ts';
import { useStorageFixture } from './helpers/storage-fixture.ts';
import type { StorageFixture } from './storage.contract.ts';

const uid = (label: string) => `${label}${randomBytes(4).toString('hex')}`;

export function revocationContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`revocation store contract: ${name}`, () => {
    let s: Storage;

    const store = useStorageFixture(make, (storage) => {
      s = storage;
    });

    const mine = (list: Revocation[], userId: string) => list.filter((r) => r.userId === userId);

    it('lists token revocations until their expiry, and user revocations', async () => {
      const u = uid('u');
      const now = Date.now();
      await s.revocations.add({ kind: 'token', jti: `${u}-live`, userId: u, expiresAt: now + 60_000 });
      await s.revocations.add({ kind: 'token', jti: `${u}-gone`, userId: u, expiresAt: now + 1000 });
      await s.revocations.add({ kind: 'user', userId: u, before: now });
      const listed = mine(await s.revocations.list(now + 2000), u);
      assert.deepEqual(
        listed.map((r) => (r.kind === 'token' ? r.jti : `user:${r.before}`)).sort(),
        [`${u}-live`, `user:${now}`].sort(),
      );
    });

    it('keeps the later of two user revocations, whatever order they come in', async () => {
      const u = uid('v');
      const now = Date.now();
      await s.revocations.add({ kind: 'user', userId: u, before: now });
      await s.revocations.add({ kind: 'user', userId: u, before: now - 5000 });
      assert.deepEqual(mine(await s.revocations.list(now), u), [{ kind: 'user', userId: u, before: now }]);
      await s.revocations.add({ kind: 'user', userId: u, before: now + 5000 });
      assert.deepEqual(mine(await s.revocations.list(now), u), [
        { kind: 'user', userId: u, before: now + 5000 },
      ]);
    });

    it('is idempotent and survives a reopen', async () => {
      const u = uid('w');
      const r: Revocation = { kind: 'token', jti: `${u}-t`, userId: u, expiresAt: Date.now() + 600_000 };
      await s.revocations.add(r);
      await s.revocations.add(r);
      await store.reopen();
      assert.deepEqual(mine(await s.revocations.list(Date.now()), u), [r]);
    });
  });
}
