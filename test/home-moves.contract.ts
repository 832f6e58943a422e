/** The behaviour every `HomeMoveStore` must have (`storage.homeMoves` of each `Storage`). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { HomeMove } from '../src/storage/home-moves.ts';
import type { Storage } from '../src/storage/types.ts';
import { useStorageFixture } from './helpers/storage-fixture.ts';
import type { StorageFixture } from './storage.contract.ts';

let seq = 0;
const uid = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

function move(userId: string, changes: Partial<HomeMove> = {}): HomeMove {
  return {
    userId,
    moveId: 'm1',
    from: 'us-east',
    to: 'eu-west',
    phase: 'dual',
    rev: 1,
    startedAt: 1000,
    updatedAt: 1000,
    progress: { batches: 0, copied: 0, rounds: 0, cleaned: 0 },
    report: null,
    error: null,
    ...changes,
  };
}

export function homeMoveContract(name: string, make: () => Promise<StorageFixture>): void {
  describe(`HomeMoveStore contract: ${name}`, () => {
    let s: Storage;
    const store = useStorageFixture(make, (storage) => {
      s = storage;
    });

    it('stores a record and reads it back whole, and lists it', async () => {
      const u = uid('u');
      assert.equal(await s.homeMoves.get(u), null);
      const report = {
        rounds: 2,
        oldCount: 3,
        newCount: 3,
        transient: 1,
        differences: [{ messageId: '42', kind: 'extra' as const, round: 1 }],
        copiedMissing: ['7'],
        removedExtra: ['42'],
        clean: true,
      };
      const m = move(u, { phase: 'verify', rev: 3, report });
      assert.deepEqual(await s.homeMoves.put(m), m);
      assert.deepEqual(await s.homeMoves.get(u), m);
      assert.ok((await s.homeMoves.list()).some((x) => x.userId === u && x.rev === 3));
    });

    it('keeps the newer record whatever order they arrive in: rev within a move, a later move over an earlier', async () => {
      const u = uid('u');
      await s.homeMoves.put(move(u, { rev: 5, phase: 'cutover' }));
      const stands = await s.homeMoves.put(move(u, { rev: 4, phase: 'verify' }));
      assert.equal(stands.phase, 'cutover');
      assert.equal((await s.homeMoves.get(u))?.rev, 5);
      await s.homeMoves.put(
        move(u, { moveId: 'm2', startedAt: 2000, rev: 1, phase: 'dual', from: 'eu-west', to: 'us-east' }),
      );
      assert.equal((await s.homeMoves.get(u))?.moveId, 'm2');
      await s.homeMoves.put(move(u, { rev: 9, phase: 'done' }));
      assert.equal((await s.homeMoves.get(u))?.moveId, 'm2');
    });

    it('lists the moves not finished: a running one until its record is done or failed', async () => {
      const [running, done, failed] = [uid('run'), uid('done'), uid('fail')];
      const activeUsers = async () =>
        new Set((await s.homeMoves.listActive()).map((m) => `${m.userId}:${m.phase}`));
      await s.homeMoves.put(move(running, { phase: 'backfill', rev: 2 }));
      await s.homeMoves.put(move(done, { phase: 'cleanup', rev: 5 }));
      await s.homeMoves.put(move(failed, { phase: 'verify', rev: 3 }));
      let active = await activeUsers();
      for (const key of [`${running}:backfill`, `${done}:cleanup`, `${failed}:verify`])
        assert.ok(active.has(key), key);
      await s.homeMoves.put(move(done, { phase: 'done', rev: 6 }));
      await s.homeMoves.put(move(failed, { phase: 'failed', rev: 4 }));
      // A record that does not stand changes nothing.
      await s.homeMoves.put(move(running, { phase: 'dual', rev: 1 }));
      active = await activeUsers();
      assert.ok(active.has(`${running}:backfill`));
      assert.ok(
        ![...active].some((k) => k.startsWith(`${done}:`) || k.startsWith(`${failed}:`)),
        [...active].join(),
      );
      // The user moves again: running again.
      await s.homeMoves.put(move(done, { moveId: 'm2', startedAt: 5000, rev: 1, phase: 'dual' }));
      assert.ok((await activeUsers()).has(`${done}:dual`));
    });

    it('keeps replies by move, phase and round', async () => {
      const u = uid('u');
      const reply = {
        userId: u,
        moveId: 'm1',
        region: 'eu-west',
        phase: 'verify' as const,
        round: 2,
        at: 5,
        ids: ['1', '2'],
      };
      assert.equal(await s.homeMoves.getReply(u, 'm1', 'verify', 2), null);
      await s.homeMoves.putReply(reply);
      await s.homeMoves.putReply({ ...reply, phase: 'dual', round: 0, ids: null });
      assert.deepEqual(await s.homeMoves.getReply(u, 'm1', 'verify', 2), reply);
      assert.equal(await s.homeMoves.getReply(u, 'm1', 'verify', 1), null);
      assert.equal((await s.homeMoves.getReply(u, 'm1', 'dual', 0))?.ids, null);
      assert.equal(await s.homeMoves.getReply(u, 'm2', 'verify', 2), null);
    });

    it('keeps records across a reopen', async () => {
      const u = uid('u');
      await s.homeMoves.put(move(u, { phase: 'done', rev: 7 }));
      await store.reopen();
      assert.equal((await s.homeMoves.get(u))?.phase, 'done');
    });
  });
}
