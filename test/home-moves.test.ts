/**
 * The home-move state machine (src/homes/) on two embedded stores joined by an in-process link
 * that applies each region's events in the other in publish order, a little late. Traffic is
 * simulated as replication does it: each region queues a message for the user when its own
 * directory says it holds the user's queue, each at its own moment.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { Directory } from '../src/config/directory.ts';
import { ChatError, ErrorCode } from '../src/errors.ts';
import type { HomeMoveEvent } from '../src/homes/events.ts';
import { mirroringAcks } from '../src/homes/mirror.ts';
import { type HomeMoveSettings, HomeMoves } from '../src/homes/service.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import type { HomeMove } from '../src/storage/home-moves.ts';
import type { Storage, StoredMessage } from '../src/storage/types.ts';
import { silentLogger } from '../src/util/log.ts';
import { overriding } from '../src/util/overriding.ts';
import { SnowflakeGenerator } from '../src/util/snowflake.ts';

const REGIONS = ['a', 'b'] as const;
type R = (typeof REGIONS)[number];

const SETTINGS: HomeMoveSettings = {
  refreshMs: 20,
  fullRefreshMs: 500,
  batchSize: 7,
  settleMs: 60,
  graceMs: 100,
  verifyRounds: 10,
  roundDelayMs: 30,
  replyTimeoutMs: 3000,
  pollMs: 5,
  concurrency: 4,
  resumeAfterMs: 60_000,
};

interface Region {
  name: R;
  storage: EmbeddedStorage;
  /** The store as the gateway uses it: acks mirrored while a move runs. */
  gatewayStorage: Storage;
  directory: Directory;
  moves: HomeMoves;
  /** Applying events from the other region stops (a region cut off) while true. */
  deaf: boolean;
  publish: (ev: HomeMoveEvent) => Promise<void>;
}

const dirs: string[] = [];
const ids = new SnowflakeGenerator(1, 1);

async function twoRegions(
  pins: Record<string, R>,
  settings = SETTINGS,
  resumes = false,
  /** Whether region a's replication has caught up (what its verification asks); default: always. */
  caughtUp?: () => Promise<boolean>,
): Promise<Record<R, Region>> {
  const regions = {} as Record<R, Region>;
  // Each region's inbox: one event at a time, in publish order, after a short delay.
  const inbox: Record<R, Promise<void>> = { a: Promise.resolve(), b: Promise.resolve() };
  const publishFrom =
    (from: R) =>
    async (ev: HomeMoveEvent): Promise<void> => {
      for (const to of REGIONS) {
        if (to === from) continue;
        inbox[to] = inbox[to].then(async () => {
          await sleep(2);
          for (;;) {
            const r = regions[to];
            if (r.deaf) return;
            try {
              await r.moves.apply(ev);
              return;
            } catch {
              await sleep(10);
            }
          }
        });
      }
    };
  for (const name of REGIONS) {
    const dir = await mkdtemp(join(tmpdir(), `home-move-${name}-`));
    dirs.push(dir);
    const storage = new EmbeddedStorage({ dataDir: dir });
    await storage.init();
    const directory = new Directory([...REGIONS], { pins });
    const publish = publishFrom(name);
    const moves = new HomeMoves({
      region: name,
      regions: [...REGIONS],
      directory,
      local: storage,
      publish,
      settings,
      log: silentLogger,
      resumes,
      ...(name === 'a' && caughtUp ? { caughtUp } : {}),
    });
    await moves.start();
    regions[name] = {
      name,
      storage,
      gatewayStorage: mirroringAcks(storage, name, directory, publish),
      directory,
      moves,
      deaf: false,
      publish,
    };
  }
  opened.push(regions);
  return regions;
}

const opened: Record<R, Region>[] = [];

/** Extra `HomeMoves` a test starts, stopped after it. */
const onStop: (() => void)[] = [];

afterEach(async () => {
  for (const stop of onStop.splice(0)) stop();
  for (const regions of opened.splice(0)) {
    for (const r of Object.values(regions)) {
      await r.moves.settled();
      r.moves.stop();
      // Events still on their way are dropped, not retried against a closed store.
      r.deaf = true;
      await r.storage.close();
    }
  }
});

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function message(body: string): StoredMessage {
  const messageId = ids.next();
  return {
    conversationId: 'dm:x:y',
    messageId,
    senderId: 'x',
    clientMsgId: null,
    body,
    createdAt: Date.now(),
  };
}

/** A message for `user` reaching each region at its own moment; each queues it if it holds the queue. */
async function deliver(regions: Record<R, Region>, user: string, m: StoredMessage): Promise<void> {
  await Promise.all(
    REGIONS.map(async (name) => {
      await sleep(Math.floor(Math.random() * 6));
      const r = regions[name];
      if (r.directory.holds(name, user)) await r.storage.enqueueOffline(user, [m]);
    }),
  );
}

async function queue(r: Region, user: string): Promise<string[]> {
  return (await r.storage.listOffline(user, 10_000)).map((e) => e.messageId.toString());
}

async function until(
  move: () => Promise<HomeMove | null>,
  done: (m: HomeMove) => boolean,
): Promise<HomeMove> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = await move();
    if (m && done(m)) return m;
    if (Date.now() > deadline) throw new Error(`move did not finish: ${JSON.stringify(m)}`);
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('the directory under a move record', () => {
  it('names the home, the queue holders and the one region that notifies, phase by phase', () => {
    const d = new Directory(['a', 'b', 'c'], { pins: { u: 'a' } });
    const base: HomeMove = {
      userId: 'u',
      moveId: 'm',
      from: 'a',
      to: 'b',
      phase: 'dual',
      rev: 1,
      startedAt: 1,
      updatedAt: 1,
      progress: { batches: 0, copied: 0, rounds: 0, cleaned: 0 },
      report: null,
      error: null,
    };
    const expected: Array<[HomeMove['phase'], string, string[], string[]]> = [
      ['dual', 'a', ['a', 'b'], ['a']],
      ['backfill', 'a', ['a', 'b'], ['a']],
      ['verify', 'a', ['a', 'b'], ['a']],
      ['cutover', 'b', ['a', 'b'], ['a', 'b']],
      ['cleanup', 'b', ['b'], ['b']],
      ['done', 'b', ['b'], ['b']],
      ['failed', 'a', ['a'], ['a']],
    ];
    assert.equal(d.homeOf('u'), 'a');
    let rev = 1;
    for (const [phase, home, holders, notifiers] of expected) {
      d.setMoves([{ ...base, phase, rev: ++rev }]);
      assert.equal(d.homeOf('u'), home, phase);
      assert.deepEqual(
        ['a', 'b', 'c'].filter((r) => d.holds(r, 'u')),
        holders,
        phase,
      );
      assert.deepEqual(
        ['a', 'b', 'c'].filter((r) => d.notifies(r, 'u')),
        notifiers,
        phase,
      );
    }
    // A record naming a region the config no longer has is ignored; an older one does not win.
    d.setMoves([{ ...base, moveId: 'n', startedAt: 2, to: 'gone', phase: 'done' }]);
    assert.equal(d.homeOf('u'), 'a');
    d.setMove({ ...base, phase: 'done', rev: 1 });
    assert.equal(d.homeOf('u'), 'a');
    d.setMove({ ...base, moveId: 'n', startedAt: 2, from: 'a', to: 'c', phase: 'done' });
    assert.equal(d.homeOf('u'), 'c');
  });
});

describe('home-region moves', () => {
  it('moves a queue under traffic: nothing lost, nothing twice, old copy gone, report clean', async () => {
    const regions = await twoRegions({ u1: 'a' });
    const before: string[] = [];
    for (let i = 0; i < 30; i++) {
      const m = message(`old ${i}`);
      await deliver(regions, 'u1', m);
      before.push(m.messageId.toString());
    }
    assert.deepEqual(await queue(regions.a, 'u1'), before);
    assert.deepEqual(await queue(regions.b, 'u1'), []);

    const [started] = await regions.a.moves.request(['u1'], 'b');
    assert.equal(started?.phase, 'dual');
    // Traffic the whole time the move runs.
    const sent = [...before];
    let sending = true;
    const traffic = (async () => {
      let i = 0;
      while (sending) {
        const m = message(`new ${i++}`);
        await deliver(regions, 'u1', m);
        sent.push(m.messageId.toString());
        await sleep(3);
      }
    })();
    const done = await until(
      () => regions.a.moves.get('u1'),
      (m) => m.phase === 'done' || m.phase === 'failed',
    );
    sending = false;
    await traffic;
    assert.equal(done.phase, 'done', done.error ?? '');
    assert.ok(done.report?.clean);
    assert.deepEqual(done.report?.differences, []);
    assert.ok(done.progress.copied >= before.length);
    assert.ok(done.progress.batches >= Math.ceil(before.length / SETTINGS.batchSize));

    // Both regions agree: b is home, only b queues; a holds nothing.
    for (const name of REGIONS) {
      await until(
        async () => regions[name].directory.moveOf('u1'),
        (m) => m.phase === 'done',
      );
      assert.equal(regions[name].directory.homeOf('u1'), 'b');
      assert.equal(regions[name].directory.holds('a', 'u1'), false);
      assert.equal(regions[name].directory.holds('b', 'u1'), true);
    }
    assert.deepEqual(await queue(regions.a, 'u1'), []);
    assert.deepEqual(await queue(regions.b, 'u1'), sent, 'every message once, in order');
    // The new home's copy keeps the entries' content.
    const first = (await regions.b.storage.listOffline('u1', 1))[0];
    assert.equal(first?.body, 'old 0');
  });

  it("an ack in either home during the move reaches the other: acked entries don't come back", async () => {
    const regions = await twoRegions({ u2: 'a' });
    const all: string[] = [];
    for (let i = 0; i < 20; i++) {
      const m = message(`m ${i}`);
      await deliver(regions, 'u2', m);
      all.push(m.messageId.toString());
    }
    await regions.a.moves.request(['u2'], 'b');
    await until(
      () => regions.a.moves.get('u2'),
      (m) => m.phase === 'verify' || m.phase === 'cutover',
    );
    // The user connects to the old home mid-move and acks half their queue there.
    const acked = all.slice(0, 10);
    await regions.a.gatewayStorage.ackOffline('u2', acked.map(BigInt));
    await until(
      () => regions.a.moves.get('u2'),
      (m) => m.phase === 'cleanup' || m.phase === 'done',
    );
    // After cutover, one more at the new home.
    await regions.b.gatewayStorage.ackOffline('u2', [BigInt(all[10]!)]);
    const done = await until(
      () => regions.a.moves.get('u2'),
      (m) => m.phase === 'done' || m.phase === 'failed',
    );
    assert.equal(done.phase, 'done', done.error ?? '');
    assert.deepEqual(await queue(regions.b, 'u2'), all.slice(11));
    assert.deepEqual(await queue(regions.a, 'u2'), []);
  });

  it('reconciles an entry only the new home holds and reports it', async () => {
    const regions = await twoRegions({ u3: 'a' });
    const kept = message('kept');
    await deliver(regions, 'u3', kept);
    // A stray entry in the new home (never in the old one, which is authoritative).
    const stray = message('stray');
    await regions.b.storage.enqueueOffline('u3', [stray]);
    await sleep(SETTINGS.settleMs + 10);
    await regions.a.moves.request(['u3'], 'b');
    const done = await until(
      () => regions.a.moves.get('u3'),
      (m) => m.phase === 'done' || m.phase === 'failed',
    );
    assert.equal(done.phase, 'done', done.error ?? '');
    assert.deepEqual(
      done.report?.differences.map((d) => [d.messageId, d.kind]),
      [[stray.messageId.toString(), 'extra']],
    );
    assert.deepEqual(done.report?.removedExtra, [stray.messageId.toString()]);
    assert.equal(done.report?.clean, true);
    assert.deepEqual(await queue(regions.b, 'u3'), [kept.messageId.toString()]);
  });

  it("keeps an entry only the new home holds while the old home's replication is behind; removes it once caught up", async () => {
    let behind = true;
    const regions = await twoRegions(
      { u10: 'a' },
      { ...SETTINGS, verifyRounds: 40 },
      false,
      async () => !behind,
    );
    const kept = message('kept');
    await deliver(regions, 'u10', kept);
    // Only in the new home: for all the old home can tell, a replicated message it has yet to apply.
    const stray = message('stray');
    await regions.b.storage.enqueueOffline('u10', [stray]);
    await sleep(SETTINGS.settleMs + 10);
    await regions.a.moves.request(['u10'], 'b');
    const waiting = await until(
      () => regions.a.moves.get('u10'),
      (m) => (m.report?.rounds ?? 0) >= 4,
    );
    assert.deepEqual(waiting.report?.removedExtra, []);
    assert.deepEqual(waiting.report?.differences, []);
    assert.ok(
      (await queue(regions.b, 'u10')).includes(stray.messageId.toString()),
      'not removed while behind',
    );
    behind = false;
    const done = await until(
      () => regions.a.moves.get('u10'),
      (m) => m.phase === 'done' || m.phase === 'failed',
    );
    assert.equal(done.phase, 'done', done.error ?? '');
    assert.deepEqual(done.report?.removedExtra, [stray.messageId.toString()]);
    assert.deepEqual(await queue(regions.b, 'u10'), [kept.messageId.toString()]);
  });

  it('fails before cutover when the new home does not answer: the old home stays home, its queue intact', async () => {
    const regions = await twoRegions({ u4: 'a' }, { ...SETTINGS, replyTimeoutMs: 200 });
    const m = message('stays');
    await deliver(regions, 'u4', m);
    regions.b.deaf = true;
    await regions.a.moves.request(['u4'], 'b');
    const failed = await until(
      () => regions.a.moves.get('u4'),
      (x) => x.phase === 'failed' || x.phase === 'done',
    );
    assert.equal(failed.phase, 'failed');
    assert.match(failed.error ?? '', /no reply from b/);
    await until(
      async () => regions.a.directory.moveOf('u4'),
      (x) => x.phase === 'failed',
    );
    assert.equal(regions.a.directory.homeOf('u4'), 'a');
    assert.equal(regions.a.directory.holds('b', 'u4'), false);
    assert.deepEqual(await queue(regions.a, 'u4'), [m.messageId.toString()]);
  });

  /**
   * Starts moving `user` (15 queued entries) from a to b, stops region a's moves once in `verify`
   * (its driving gateway gone), and starts a's moves again as another gateway (`resumes`: worker 0).
   */
  async function stalledMove(user: string, settings: HomeMoveSettings, resumes: boolean) {
    const regions = await twoRegions({ [user]: 'a' }, settings);
    const all: string[] = [];
    for (let i = 0; i < 15; i++) {
      const m = message(`m ${i}`);
      await deliver(regions, user, m);
      all.push(m.messageId.toString());
    }
    await regions.a.moves.request([user], 'b');
    await until(
      () => regions.a.moves.get(user),
      (m) => m.phase === 'verify',
    );
    regions.a.moves.stop();
    await regions.a.moves.settled();
    const stalled = (await regions.a.moves.get(user))!;
    assert.ok(stalled.phase !== 'failed' && stalled.phase !== 'done', JSON.stringify(stalled));
    const a = regions.a;
    a.moves = new HomeMoves({
      region: 'a',
      regions: [...REGIONS],
      directory: a.directory,
      local: a.storage,
      publish: a.publish,
      settings,
      log: silentLogger,
      resumes,
    });
    await a.moves.start();
    return { regions, all, stalled };
  }

  /** Waits for the move to end and checks it moved every entry to b and left none in a. */
  async function movedWhole(regions: Record<R, Region>, user: string, all: string[]): Promise<HomeMove> {
    const done = await until(
      () => regions.a.moves.get(user),
      (m) => m.phase === 'done' || m.phase === 'failed',
    );
    assert.equal(done.phase, 'done', done.error ?? '');
    assert.deepEqual(await queue(regions.b, user), all);
    assert.deepEqual(await queue(regions.a, user), []);
    return done;
  }

  it('a move whose gateway stopped stays in its phase and resumes from it when requested again', async () => {
    const settings = { ...SETTINGS, replyTimeoutMs: 800 };
    const { regions, all, stalled } = await stalledMove('u6', settings, false);
    // Once the record is quiet for replyTimeoutMs the request takes it over.
    await sleep(settings.replyTimeoutMs + 50);
    const [resumed] = await regions.a.moves.request(['u6'], 'b');
    assert.equal(resumed?.moveId, stalled.moveId);
    await movedWhole(regions, 'u6', all);
  });

  it("a move whose driver is gone is resumed by the region's resuming gateway once quiet for resumeAfterMs", async () => {
    const settings = { ...SETTINGS, replyTimeoutMs: 800, resumeAfterMs: 1500 };
    // Nothing is asked of the resuming gateway: the record goes quiet, and it takes the move over.
    const { regions, all, stalled } = await stalledMove('u7', settings, true);
    const done = await movedWhole(regions, 'u7', all);
    assert.equal(done.moveId, stalled.moveId);
    assert.ok(
      done.updatedAt - stalled.updatedAt >= settings.resumeAfterMs,
      'not resumed before it was quiet',
    );
  });

  it('a driver that finds a newer record of its move when it saves ends, leaving the move to the newer driver', async () => {
    const regions = await twoRegions({ u8: 'a' }, { ...SETTINGS, replyTimeoutMs: 800 });
    for (let i = 0; i < 5; i++) await deliver(regions, 'u8', message(`m ${i}`));
    // b does not answer: the driver waits in `dual` for its reply, saving nothing meanwhile.
    regions.b.deaf = true;
    const [started] = await regions.a.moves.request(['u8'], 'b');
    const seen = await until(
      () => regions.a.moves.get('u8'),
      (m) => m.moveId === started!.moveId && m.phase === 'dual',
    );
    // Another driver's save, as a takeover makes it: same move, a later revision.
    const newer = { ...seen, rev: seen.rev + 100, updatedAt: Date.now() };
    await regions.a.storage.homeMoves.put(newer);
    // Its wait times out; the `failed` it would save does not stand, and it ends.
    await regions.a.moves.settled();
    assert.deepEqual(
      await regions.a.moves.get('u8'),
      newer,
      'the first driver wrote nothing after the newer record',
    );
  });

  it('another gateway of the region follows every phase from the running moves alone, not the whole table', async () => {
    const regions = await twoRegions({ u9: 'a' });
    for (let i = 0; i < 5; i++) await deliver(regions, 'u9', message(`m ${i}`));
    // A second gateway of region a: its own directory, reading the store every 20 ms, the whole
    // table only once an hour (at start).
    let fullReads = 0;
    const homeMoves = overriding(regions.a.storage.homeMoves, {
      list: async () => {
        fullReads++;
        return regions.a.storage.homeMoves.list();
      },
    });
    const directory = new Directory([...REGIONS], { pins: { u9: 'a' } });
    const other = new HomeMoves({
      region: 'a',
      regions: [...REGIONS],
      directory,
      local: overriding(regions.a.storage as Storage, { homeMoves }),
      publish: regions.a.publish,
      settings: { ...SETTINGS, fullRefreshMs: 3_600_000 },
      log: silentLogger,
    });
    await other.start();
    onStop.push(() => other.stop());
    assert.equal(fullReads, 1);
    const seen = new Set<string>();
    const watch = setInterval(() => {
      const m = directory.moveOf('u9');
      if (m) seen.add(m.phase);
    }, 5);
    try {
      await regions.a.moves.request(['u9'], 'b');
      await until(
        async () => directory.moveOf('u9'),
        (m) => m.phase === 'done',
      );
    } finally {
      clearInterval(watch);
    }
    assert.equal(directory.moveOf('u9')?.phase, 'done');
    assert.equal(directory.homeOf('u9'), 'b');
    assert.ok(seen.has('verify') && seen.has('cutover'), [...seen].join());
    assert.equal(fullReads, 1, 'the whole table was read once, at start');
  });

  it('refuses a move started outside the home region, to an unknown region, or to where the user lives', async () => {
    const regions = await twoRegions({ u5: 'a' });
    const code = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
        return 'ok';
      } catch (err) {
        assert.ok(err instanceof ChatError);
        return err.code;
      }
    };
    assert.equal(await code(regions.b.moves.request(['u5'], 'b')), ErrorCode.InvalidField);
    assert.equal(await code(regions.a.moves.request(['u5'], 'nowhere')), ErrorCode.InvalidField);
    assert.equal(await code(regions.a.moves.request(['u5'], 'a')), ErrorCode.InvalidField);
    assert.equal(await code(regions.a.moves.request(['bad id!'], 'b')), ErrorCode.InvalidField);
  });
});
