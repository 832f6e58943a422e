/** The setup every sub-store contract suite shares: one store per suite, opened and removed. */
import { after, before } from 'node:test';
import type { Storage } from '../../src/storage/types.ts';
import type { StorageFixture } from '../storage.contract.ts';

export interface OpenFixture {
  /** Closes the store, opens a new instance over the same data, `init()`s it and hands it to `use`. */
  reopen(): Promise<Storage>;
}

/**
 * Inside a `describe`: makes the fixture and `init()`s its store before the suite's tests, hands
 * the store to `use` (again after each `reopen`), and closes the store in use and removes its data
 * after them.
 */
export function useStorageFixture(
  make: () => Promise<StorageFixture>,
  use: (storage: Storage) => void,
): OpenFixture {
  let fixture: StorageFixture | undefined;
  let current: Storage | undefined;
  const open = async (storage: Storage) => {
    await storage.init();
    current = storage;
    use(storage);
    return storage;
  };
  before(async () => {
    fixture = await make();
    await open(fixture.storage);
  });
  after(async () => {
    await current?.close();
    await fixture?.cleanup();
  });
  return {
    async reopen() {
      if (!fixture || !current) throw new Error('the fixture is not open');
      await current.close();
      current = undefined;
      return open(await fixture.reopen());
    },
  };
}
