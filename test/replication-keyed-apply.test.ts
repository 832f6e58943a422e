/**
 * `KeyedApply`, the scheduler of the inbox consumer: concurrent across keys (conversations),
 * one at a time in arrival order within a key, a failure retried in place with its key's later
 * tasks waiting behind it, and at stop the tasks not under way handed back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { KeyedApply, type KeyedTask } from '../src/replication/keyed-apply.ts';
import { applyKey } from '../src/replication/link.ts';
import { eventually } from './helpers/eventually.ts';

interface Log {
  started: string[];
  done: string[];
  failed: string[];
  abandoned: string[];
  waiting: string[];
  running: number;
  maxRunning: number;
}

const newLog = (): Log => ({
  started: [],
  done: [],
  failed: [],
  abandoned: [],
  waiting: [],
  running: 0,
  maxRunning: 0,
});

/** A task named `<key><n>` whose attempts wait on `gate` (if any) and fail while `failing` says so. */
function task(
  log: Log,
  key: string,
  n: number,
  opts: { gate?: Promise<void>; failing?: () => boolean } = {},
): KeyedTask {
  const name = `${key}${n}`;
  return {
    key,
    async attempt() {
      log.started.push(name);
      log.running++;
      log.maxRunning = Math.max(log.maxRunning, log.running);
      try {
        await turn();
        if (opts.gate) await opts.gate;
        if (opts.failing?.()) throw new Error(`store failed for ${name}`);
      } finally {
        log.running--;
      }
    },
    done: () => log.done.push(name),
    failed: () => log.failed.push(name),
    waiting: () => log.waiting.push(name),
    abandoned: () => log.abandoned.push(name),
  };
}

const ofKey = (names: string[], key: string) => names.filter((n) => n.startsWith(key));

describe('KeyedApply', () => {
  it('runs keys concurrently and each key in order', async () => {
    const log = newLog();
    const apply = new KeyedApply({ maxHeld: 100, retryDelayMs: 10 });
    const keys = ['a', 'b', 'c', 'd'];
    for (let n = 0; n < 10; n++) for (const k of keys) apply.add(task(log, k, n));
    await eventually(() => assert.equal(log.done.length, 40));
    for (const k of keys) {
      const expected = Array.from({ length: 10 }, (_, n) => `${k}${n}`);
      assert.deepEqual(ofKey(log.started, k), expected, `key ${k} started in order`);
      assert.deepEqual(ofKey(log.done, k), expected, `key ${k} done in order`);
    }
    assert.equal(log.maxRunning, keys.length, 'one attempt per key at a time, all keys at once');
    assert.equal(apply.size, 0);
  });

  it('retries a failure in place: its key waits, other keys go on, everything done once', async () => {
    const log = newLog();
    const apply = new KeyedApply({ maxHeld: 100, retryDelayMs: 20 });
    let failuresLeft = 2;
    for (let n = 0; n < 6; n++) {
      apply.add(task(log, 'a', n));
      apply.add(task(log, 'b', n, n === 2 ? { failing: () => failuresLeft-- > 0 } : {}));
    }
    await eventually(() => assert.equal(log.done.length, 12));
    assert.deepEqual(log.failed, ['b2', 'b2']);
    assert.deepEqual(ofKey(log.done, 'b'), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
    assert.deepEqual(
      ofKey(log.started, 'b'),
      ['b0', 'b1', 'b2', 'b2', 'b2', 'b3', 'b4', 'b5'],
      'nothing after b2 started before b2 succeeded',
    );
    // Key a finished while b2 was between attempts.
    assert.ok(log.done.indexOf('a5') < log.done.indexOf('b2'), `a went on meanwhile: ${log.done.join(' ')}`);
    assert.equal(new Set(log.done).size, 12, 'each task done once');
  });

  it('keys events by origin and conversation: a message waiting for another origin’s `created` does not hold it', async () => {
    // Region C receives conversation X's `created` from A and a message to X from B, the message
    // first. The message fails until `created` is applied; under one key per conversation it
    // would hold `created` behind it forever.
    const log = newLog();
    const apply = new KeyedApply({ maxHeld: 100, retryDelayMs: 10 });
    let created = false;
    const message = task(log, applyKey('B', 'X'), 0, { failing: () => !created });
    const createdEvent = task(log, applyKey('A', 'X'), 0);
    const markCreated = createdEvent.attempt.bind(createdEvent);
    createdEvent.attempt = async () => {
      await markCreated();
      created = true;
    };
    apply.add(message);
    apply.add(createdEvent);
    await eventually(() => assert.equal(log.done.length, 2));
    assert.notEqual(applyKey('A', 'X'), applyKey('B', 'X'));
    assert.equal(applyKey('A', 'X'), applyKey('A', 'X'));
    assert.ok(log.failed.length >= 1, 'the message waited for the conversation');
  });

  it('runs a task opening its key ahead of the earlier tasks of its key that wait for it', async () => {
    // Within one origin a message can come before its conversation's creation: the creation's
    // first delivery died with a gateway and is redelivered after the ack wait, later messages
    // having come at once. The message fails until the creation is applied, which is behind it.
    const log = newLog();
    const apply = new KeyedApply({ maxHeld: 100, retryDelayMs: 10 });
    let created = false;
    apply.add(task(log, 'a', 0, { failing: () => !created }));
    apply.add(task(log, 'a', 1, { failing: () => !created }));
    apply.add(task(log, 'b', 0));
    await eventually(() => assert.ok(log.failed.length >= 1));
    const creation = task(log, 'a', 9);
    apply.add({
      ...creation,
      opensKey: true,
      attempt: async () => {
        await creation.attempt();
        created = true;
      },
    });
    apply.add(task(log, 'a', 2));
    await eventually(() => assert.equal(log.done.length, 5), { timeoutMs: 2000 });
    assert.deepEqual(ofKey(log.done, 'a'), ['a9', 'a0', 'a1', 'a2'], 'the rest of the key in arrival order');
    const started = ofKey(log.started, 'a');
    const at = started.indexOf('a9');
    assert.ok(
      started.slice(0, at).every((n) => n === 'a0'),
      `only a0 was tried before the creation: ${started.join(' ')}`,
    );
    assert.deepEqual(started.slice(at), ['a9', 'a0', 'a1', 'a2'], 'then each once, in order');
    assert.equal(apply.size, 0);
  });

  it('admits up to maxHeld tasks, counting the ones waiting behind their key', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const log = newLog();
    const apply = new KeyedApply({ maxHeld: 3, retryDelayMs: 10 });
    for (let n = 0; n < 3; n++) apply.add(task(log, 'a', n, { gate }));
    let admitted = false;
    const admission = apply.admit().then(() => {
      admitted = true;
    });
    await turn();
    assert.equal(admitted, false);
    apply.heartbeat(60_000);
    assert.deepEqual(log.waiting, ['a1', 'a2'], 'the tasks not in an attempt are kept alive');
    apply.heartbeat(-1);
    assert.deepEqual(log.waiting, ['a1', 'a2'], 'but not behind an attempt running for too long');
    open();
    await admission;
    await eventually(() => assert.equal(log.done.length, 3));
  });

  it('at stop lets attempts under way finish and hands back the rest', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const log = newLog();
    const apply = new KeyedApply({ maxHeld: 100, retryDelayMs: 60_000 });
    apply.add(task(log, 'a', 0, { gate }));
    apply.add(task(log, 'a', 1));
    apply.add(task(log, 'b', 0, { failing: () => true }));
    apply.add(task(log, 'b', 1));
    await eventually(() => assert.deepEqual(log.failed, ['b0']));
    const stopped = apply.stop(5000);
    open();
    await stopped;
    assert.deepEqual(log.done, ['a0']);
    assert.deepEqual(log.abandoned.sort(), ['a1', 'b0', 'b1']);
    assert.equal(apply.size, 0);
    apply.add(task(log, 'c', 0));
    assert.deepEqual(log.abandoned.at(-1), 'c0', 'nothing is started after stop');
  });
});
