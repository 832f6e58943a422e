/**
 * The store-migration wrapper (`src/storage/migration/migrating.ts`) is a `Storage` in every
 * phase: the whole storage contract and every sub-store's contract run on it over two embedded
 * stores, in each phase. In the phases that write both stores, the two must then hold the same
 * (the compare phase checked every read and found no disagreement).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import { MigrationStats, migratingStorage, type StorePhase } from '../src/storage/migration/index.ts';
import { attachmentContract } from './attachments.contract.ts';
import { moderationContract } from './moderation.contract.ts';
import { muteContract } from './mutes.contract.ts';
import { revocationContract } from './revocations.contract.ts';
import type { StorageFixture } from './storage.contract.ts';
import { storageContract } from './storage.contract.ts';
import { retentionContract } from './storage-retention.contract.ts';

const PHASES: StorePhase[] = ['old', 'dual-write', 'compare', 'read-new', 'new-only'];
/** Counters of every compare-phase fixture: checked at the end of the file. */
const compareStats: MigrationStats[] = [];

function fixture(phase: StorePhase): () => Promise<StorageFixture> {
  return async () => {
    const root = await mkdtemp(join(tmpdir(), 'chat-migrating-'));
    const stats = new MigrationStats();
    if (phase === 'compare') compareStats.push(stats);
    const open = () =>
      migratingStorage(
        new EmbeddedStorage({ dataDir: join(root, 'old') }),
        new EmbeddedStorage({ dataDir: join(root, 'new') }),
        { phase },
        { stats },
      );
    return {
      storage: open(),
      reopen: async () => open(),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  };
}

for (const phase of PHASES) {
  storageContract(`migrating (${phase})`, fixture(phase));
  attachmentContract(`migrating (${phase})`, fixture(phase));
  moderationContract(`migrating (${phase})`, fixture(phase));
  muteContract(`migrating (${phase})`, fixture(phase));
  revocationContract(`migrating (${phase})`, fixture(phase));
  retentionContract(`migrating (${phase})`, fixture(phase));
}

describe('migrating storage in the compare phase', () => {
  after(() => {
    // Runs after every contract above: each read of the compare-phase runs was made on both stores.
    const compared = compareStats.reduce((n, s) => n + MigrationStats.total(s.compared), 0);
    const disagreements = compareStats.flatMap((s) => [...s.disagreements]);
    assert.ok(compared > 100, `compared ${compared} reads`);
    assert.deepEqual(disagreements, [], 'two stores given the same writes answer every read the same');
  });
  it('collects its counters from every contract run above', () => {
    assert.equal(compareStats.length, 6);
  });
});
