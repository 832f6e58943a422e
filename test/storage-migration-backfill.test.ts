/**
 * Moving a store's data, embedded to embedded: backfill in verified batches while writes keep
 * coming through the wrapper, reconciliation, the compare phase finding no disagreement, reading
 * from the new store, rollback, and the command's guards and kept report.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { chunkCount } from '../src/storage/attachments.ts';
import { EmbeddedStorage } from '../src/storage/embedded.ts';
import {
  backfill,
  canTransition,
  FilePhaseStore,
  type MigrationReport,
  MigrationStats,
  migratingStorage,
  PhaseWatcher,
  reconcile,
  runMigrationCommand,
  type StorePhase,
  setPhase,
} from '../src/storage/migration/index.ts';
import type { Storage, StoredMessage } from '../src/storage/types.ts';
import { overriding } from '../src/util/overriding.ts';
import { snowflakeFloor, snowflakeTime } from '../src/util/snowflake.ts';
import { eventually } from './helpers/eventually.ts';

const USERS = ['ann', 'bob', 'cat', 'dan', 'eve'];
let idMs = Date.now() - 3600_000;
let n = 0;
/** Increasing snowflake ids, as a gateway mints them. */
function nextId(): bigint {
  n = (n + 1) % 1000;
  if (n === 0) idMs++;
  return snowflakeFloor(idMs) + BigInt(n);
}

function message(conversationId: string, senderId: string, body: string, over: Partial<StoredMessage> = {}) {
  const messageId = nextId();
  const m: StoredMessage = {
    conversationId,
    messageId,
    senderId,
    clientMsgId: `c-${messageId}`,
    body,
    createdAt: snowflakeTime(messageId),
    ...over,
  };
  return m;
}

/** A store with a bit of everything `Storage` holds. */
async function seed(s: Storage, conversations: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < conversations; i++) {
    const id = `g:${i}-${randomBytes(2).toString('hex')}`;
    ids.push(id);
    const members = USERS.filter((_, j) => (i + j) % 2 === 0 || j === 0);
    await s.createConversation(
      { id, kind: 'group', title: `t${i}`, createdBy: 'ann', createdAt: idMs },
      members,
    );
    const sent: StoredMessage[] = [];
    for (let k = 0; k < 12; k++) {
      const sender = members[k % members.length]!;
      const { message: m } = await s.appendMessage(message(id, sender, `hello ${i}.${k}`));
      sent.push(m);
      for (const u of members) if (u !== sender && k % 3 === 0) await s.enqueueOffline(u, [m]);
    }
    const root = sent[0]!;
    const reply = message(id, members[0]!, 'a reply', {
      replyTo: root.messageId,
      threadRoot: root.messageId,
    });
    await s.appendMessage(reply);
    await s.addThreadReply(reply);
    const edit = message(id, sent[1]!.senderId, '', {
      change: { kind: 'edit', targetId: sent[1]!.messageId },
    });
    await s.appendMessage(edit);
    await s.applyChange({
      conversationId: id,
      targetId: sent[1]!.messageId,
      body: 'edited',
      state: { revision: edit.messageId, deleted: false, editedAt: edit.createdAt, editCount: 1 },
    });
    const react = message(id, 'ann', '', {
      change: { kind: 'react', targetId: sent[2]!.messageId, emoji: '👍' },
    });
    await s.appendMessage(react);
    await s.applyReaction({
      conversationId: id,
      targetId: sent[2]!.messageId,
      emoji: '👍',
      userId: 'ann',
      on: true,
      revision: react.messageId,
    });
    await s.recordLate(sent[3]!, sent[3]!.createdAt + 60_000);
    await s.markRead(members[0]!, id, sent[5]!.messageId);
    if (i % 2 === 0) await s.retention.setConversationRetention(id, 86_400, Date.now());
    await s.moderation.setRole({
      conversationId: id,
      userId: members[0]!,
      role: 'admin',
      revision: nextId(),
    });
    if (i === 0) {
      const bytes = randomBytes(2500);
      const up = { id: `att-${randomBytes(3).toString('hex')}`, conversationId: id, startedAt: Date.now() };
      await s.attachments.begin(up);
      for (let c = 0; c < chunkCount(bytes.length, 1000); c++) {
        await s.attachments.putChunk(up, c, bytes.subarray(c * 1000, (c + 1) * 1000));
      }
      const meta = {
        id: up.id,
        conversationId: id,
        uploaderId: 'ann',
        contentType: 'application/octet-stream',
        size: bytes.length,
        name: 'f.bin',
        width: null,
        height: null,
        createdAt: Date.now(),
        chunkSize: 1000,
      };
      await s.attachments.commit(up, meta);
      const { id: _c, uploaderId: _u, createdAt: _t, chunkSize: _s, conversationId: _cv, ...ref } = meta;
      await s.appendMessage(message(id, 'ann', 'a file', { attachments: [{ ...ref, id: meta.id }] }));
    }
  }
  await s.mutes.set({ userId: 'bob', conversationId: ids[0]!, muted: true, at: Date.now() });
  await s.moderation.setBlock({ userId: 'cat', targetId: 'dan', blocked: true, revision: nextId() });
  await s.revocations.add({ kind: 'user', userId: 'eve', before: Date.now() - 1000 });
  await s.retention.putErasure({
    requestId: 'erasure-of-fay',
    userId: 'fay',
    region: 'solo',
    requestedAt: Date.now() - 5000,
    finishedAt: Date.now() - 4000,
    status: 'done',
    progress: { scanned: 40, removed: 1 },
    report: { tables: { messages: 1 }, messageIds: ['12345'], attachmentIds: [] },
    error: null,
  });
  return ids;
}

/**
 * Writes through the wrapper until stopped, as gateways do: new messages queued for members,
 * edits, reads, acks, membership changes. Resolves with what it appended.
 */
async function traffic(
  s: Storage,
  conversations: string[],
  stop: { done: boolean },
): Promise<StoredMessage[]> {
  const sent: StoredMessage[] = [];
  let k = 0;
  while (!stop.done) {
    const id = conversations[k % conversations.length]!;
    const members = await s.listMembers(id);
    const sender = members[k % members.length]!;
    const { message: m } = await s.appendMessage(message(id, sender, `live ${k}`));
    sent.push(m);
    const others = members.filter((u) => u !== sender);
    for (const u of others) await s.enqueueOffline(u, [m]);
    if (k % 4 === 1) await s.markRead(others[0]!, id, m.messageId);
    if (k % 5 === 2) {
      const queued = await s.listOffline(others[0]!, 3);
      await s.ackOffline(
        others[0]!,
        queued.map((q) => q.messageId),
      );
    }
    if (k % 7 === 3) {
      const prev = sent[sent.length - 2];
      if (prev) {
        const edit = message(prev.conversationId, prev.senderId, '', {
          change: { kind: 'edit', targetId: prev.messageId },
        });
        await s.appendMessage(edit);
        await s.applyChange({
          conversationId: prev.conversationId,
          targetId: prev.messageId,
          body: `${prev.body} (edited)`,
          state: { revision: edit.messageId, deleted: false, editedAt: edit.createdAt, editCount: 1 },
        });
      }
    }
    if (k % 11 === 4) await s.addMembers(id, ['zed']);
    if (k % 11 === 9) await s.removeMembers(id, ['zed']);
    k++;
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

describe('store migration, embedded to embedded', () => {
  let root: string;
  let old: EmbeddedStorage;
  let neu: EmbeddedStorage;
  const phase: { phase: StorePhase } = { phase: 'old' };
  const stats = new MigrationStats();
  let s: Storage;
  let conversations: string[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'chat-migrate-'));
    old = new EmbeddedStorage({ dataDir: join(root, 'old') });
    neu = new EmbeddedStorage({ dataDir: join(root, 'new') });
    s = migratingStorage(old, neu, phase, { stats });
    await s.init();
    conversations = await seed(s, 23);
  });
  after(async () => {
    await s.close();
    await rm(root, { recursive: true, force: true });
  });

  it('in the old phase writes the old store only', async () => {
    assert.equal((await neu.retention.listConversations(null, 10)).conversationIds.length, 0);
  });

  let report: MigrationReport;
  it('backfills in verified batches while writes keep coming, and reconciles to no difference', async () => {
    phase.phase = 'dual-write';
    const stop = { done: false };
    const writes = traffic(s, conversations, stop);
    report = await backfill(old, neu, { batchSize: 5, settleMs: 50 });
    stop.done = true;
    const sent = await writes;
    assert.ok(sent.length > 10, `wrote ${sent.length} messages during the backfill`);
    assert.equal(report.conversations, 23);
    assert.equal(report.batches >= 5, true);
    assert.deepEqual(report.remaining, []);
    assert.deepEqual(
      await neu.retention.getErasures('erasure-of-fay'),
      await old.retention.getErasures('erasure-of-fay'),
      'erasure reports are copied',
    );
    assert.equal((await neu.retention.getErasures('erasure-of-fay')).length, 1);
    const again = await reconcile(old, neu, { settleMs: 50 });
    assert.deepEqual(again.remaining, []);
    const verified = await reconcile(old, neu, { settleMs: 50, repair: false });
    assert.equal(verified.mode, 'verify');
    assert.deepEqual(verified.remaining, []);
    assert.deepEqual(verified.repaired, []);
    // Everything sent during the backfill is on the new store, once.
    for (const m of sent)
      assert.equal((await neu.getMessage(m.conversationId, m.messageId))?.senderId, m.senderId);
    assert.equal(MigrationStats.total(stats.mirrorFailures), 0);
  });

  it('in the compare phase reads both stores and finds them the same', async () => {
    phase.phase = 'compare';
    for (const id of conversations) {
      await s.getHistory(id, { limit: 100 });
      await s.listMembers(id);
      await s.moderation.getGroup(id);
    }
    for (const u of USERS) {
      await s.listUserConversations(u);
      await s.listOffline(u, 500);
      await s.mutes.listMuted(u);
    }
    assert.ok(MigrationStats.total(stats.compared) > 50);
    assert.deepEqual([...stats.disagreements], []);
  });

  it('counts a disagreement when the new store answers differently, and returns the old answer', async () => {
    const id = conversations[0]!;
    await neu.addMembers(id, ['intruder']);
    const members = await s.listMembers(id);
    assert.ok(!members.includes('intruder'));
    assert.equal(stats.disagreements.get('listMembers'), 1);
    await neu.removeMembers(id, ['intruder']);
  });

  it('reads from the new store in read-new, still writing both; rolls back to old without loss', async () => {
    phase.phase = 'read-new';
    const id = conversations[1]!;
    const members = await s.listMembers(id);
    const { message: m } = await s.appendMessage(message(id, members[0]!, 'written in read-new'));
    await s.enqueueOffline(members[1]!, [m]);
    assert.ok(await neu.getMessage(id, m.messageId));
    assert.ok(await old.getMessage(id, m.messageId), 'mirrored to the old store for rollback');
    phase.phase = 'old';
    assert.equal((await s.getMessage(id, m.messageId))?.body, 'written in read-new');
    assert.ok((await s.listOffline(members[1]!, 500)).some((q) => q.messageId === m.messageId));
  });

  it('in new-only writes the new store alone, and can no longer go back', async () => {
    phase.phase = 'new-only';
    const id = conversations[2]!;
    const members = await s.listMembers(id);
    const { message: m } = await s.appendMessage(message(id, members[0]!, 'new only'));
    assert.ok(await neu.getMessage(id, m.messageId));
    assert.equal(await old.getMessage(id, m.messageId), null);
    assert.equal(canTransition('new-only', 'old'), false);
    assert.equal(canTransition('new-only', 'read-new'), false);
    assert.equal(canTransition('read-new', 'old'), true);
    assert.equal(canTransition('old', 'compare'), false);
  });
});

describe('store migration when the new store fails a write', () => {
  it('keeps serving, counts the failed mirror, and reconciliation repairs it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'chat-migrate-flaky-'));
    const old = new EmbeddedStorage({ dataDir: join(root, 'old') });
    const neu = new EmbeddedStorage({ dataDir: join(root, 'new') });
    let failing = true;
    const flaky = overriding(neu, {
      putReplica: async (m) => {
        if (failing) throw new Error('new store unavailable');
        return neu.putReplica(m);
      },
    });
    const stats = new MigrationStats();
    const s = migratingStorage(old, flaky, { phase: 'dual-write' }, { stats });
    try {
      await s.init();
      const [id] = await seed(s, 1);
      assert.ok(MigrationStats.total(stats.mirrorFailures) > 0);
      const history = await s.getHistory(id!, { limit: 100 });
      assert.ok(history.length > 10, 'every write was served by the old store');
      const verified = await reconcile(old, neu, { settleMs: 10, repair: false });
      assert.ok(verified.remaining.some((d) => d.kind === 'message'));
      failing = false;
      const repaired = await reconcile(old, neu, { settleMs: 10 });
      assert.ok(repaired.repaired.length > 0);
      assert.deepEqual(repaired.remaining, []);
      assert.deepEqual((await reconcile(old, neu, { settleMs: 10, repair: false })).remaining, []);
    } finally {
      await s.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('store migration command and phase file', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'chat-migrate-cmd-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('guards phases, backfills with progress in the state, and keeps the report', async () => {
    const phases = new FilePhaseStore(join(root, 'phase.json'));
    const seedStore = new EmbeddedStorage({ dataDir: join(root, 'old') });
    await seedStore.init();
    await seed(seedStore, 3);
    await seedStore.close();
    const target = () => ({
      old: new EmbeddedStorage({ dataDir: join(root, 'old') }),
      neu: new EmbeddedStorage({ dataDir: join(root, 'new') }),
      phases,
      pollMs: 50,
      reportDir: join(root, 'reports'),
      settleMs: 20,
    });
    const lines: string[] = [];
    const out = (l: string) => lines.push(l);
    await assert.rejects(runMigrationCommand(target(), 'backfill', [], out), /dual-write or compare phase/);
    await assert.rejects(
      runMigrationCommand(target(), 'phase', ['compare'], out),
      /cannot go from old to compare/,
    );
    await runMigrationCommand(target(), 'phase', ['dual-write'], out);
    await assert.rejects(runMigrationCommand(target(), 'phase', ['read-new'], out), /read-new needs/);
    await runMigrationCommand(target(), 'phase', ['compare'], out);
    await assert.rejects(runMigrationCommand(target(), 'phase', ['read-new'], out), /read-new needs/);
    const report = await runMigrationCommand(target(), 'backfill', [], out);
    assert.deepEqual(report?.remaining, []);
    const state = await phases.read();
    assert.equal(state.backfill?.conversations, 3);
    assert.ok(state.backfill?.finishedAt);
    assert.deepEqual(state.verified?.remaining, 0);
    const [file] = await readdir(join(root, 'reports'));
    const kept = JSON.parse(await readFile(join(root, 'reports', file!), 'utf8')) as MigrationReport;
    assert.equal(kept.mode, 'backfill');
    assert.ok(kept.counts.messages > 30 && kept.counts.attachments === 1 && kept.counts.offline > 0);
    await runMigrationCommand(target(), 'phase', ['read-new'], out);
    await runMigrationCommand(target(), 'phase', ['old'], out);
    assert.equal((await phases.read()).verified, null, 'a rollback forgets the verification');
  });

  it('every watcher follows a phase change within its poll interval, and keeps the phase on a bad read', async () => {
    const file = join(root, 'watched.json');
    const store = new FilePhaseStore(file);
    const watchers = [
      new PhaseWatcher(new FilePhaseStore(file), { pollMs: 30 }),
      new PhaseWatcher(store, { pollMs: 30 }),
    ];
    await Promise.all(watchers.map((w) => w.start()));
    assert.deepEqual(
      watchers.map((w) => w.phase),
      ['old', 'old'],
    );
    await setPhase(store, 'dual-write');
    await eventually(
      () =>
        assert.deepEqual(
          watchers.map((w) => w.phase),
          ['dual-write', 'dual-write'],
        ),
      {
        timeoutMs: 2000,
      },
    );
    await writeFile(file, 'not json');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      watchers.map((w) => w.phase),
      ['dual-write', 'dual-write'],
    );
    await Promise.all(watchers.map((w) => w.close()));
  });
});

describe('storeMigration config', () => {
  const region = (storeMigration: unknown) => ({
    regions: [{ name: 'home', id: 1, gateway: { port: 0 }, storeMigration }],
    auth: { secret: 'a-secret-of-sixteen-chars', devTokens: true },
  });

  it('takes a Cassandra or embedded target, with a default poll interval', () => {
    const c = parseConfig(
      region({
        to: { cassandra: { contactPoints: ['10.0.0.5'], localDataCenter: 'dc1', keyspace: 'chat' } },
      }),
    );
    const m = c.regions[0]!.storeMigration!;
    assert.equal(m.pollMs, 2000);
    assert.ok('cassandra' in m.to && m.to.cassandra.port === 9042);
    const e = parseConfig(region({ to: { dataDir: 'data2' }, pollMs: 500, phaseFile: 'p.json' }));
    assert.deepEqual(e.regions[0]!.storeMigration, {
      to: { dataDir: 'data2' },
      pollMs: 500,
      phaseFile: 'p.json',
    });
  });

  it('refuses a target it cannot open, naming the field', () => {
    assert.throws(() => parseConfig(region({ to: {} })), /storeMigration/);
    assert.throws(() => parseConfig(region({ to: { dataDir: 'x' }, pollMs: 5 })), /storeMigration\.pollMs/);
  });
});
