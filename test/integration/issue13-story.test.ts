/**
 * Issue 13's acceptance story, through the SDK, in two regions on real Cassandra, Redis and a NATS
 * supercluster: alice (home us-east) sends, edits, deletes, reacts, replies in a thread, uploads an
 * image and sends it, and finds an old message by a word; bob, connected in eu-west, sees each change (the latency of
 * each is reported); carol (home eu-west), offline throughout, connects afterwards and her client
 * holds the final state. Then every table of both regions' keyspaces is read, and every file of
 * both regions' JetStream stores (the replication streams): the deleted body and the deleted
 * image's bytes are in none of them.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { type ChatClient, ChatClientError, type WireMessage } from '../../src/client/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { solidPng } from '../helpers/png.ts';
import { onCleanup, sdkClient, sdkUser } from '../helpers/sdk-clients.ts';
import {
  holds,
  type TwoRegion as Region,
  startTwoRegions,
  TWO_REGIONS,
  type TwoRegions,
} from '../helpers/two-regions.ts';

const alice = sdkUser('alice');
const bob = sdkUser('bob');
const carol = sdkUser('carol');
/** Generous: "within a second" under normal load, but this machine is shared and noisy. */
const LIVE_BOUND_MS = 5000;

/** Every message and update a client was given, and the newest version of each message. */
function watch(c: ChatClient) {
  const all: WireMessage[] = [];
  const shown = new Map<string, WireMessage>();
  const waiters: Array<{ pred: (m: WireMessage) => boolean; resolve: (at: number) => void }> = [];
  const see = (m: WireMessage) => {
    all.push(m);
    shown.set(m.id, m);
    const at = Date.now();
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(at);
      }
    }
  };
  c.on('message', (m) => see(m));
  c.on('update', (m) => see(m));
  return {
    all,
    shown,
    /** Resolves once a message matching `pred` has arrived, now or earlier. */
    async seen(pred: (m: WireMessage) => boolean, what: string): Promise<void> {
      if (!all.some(pred)) await this.next(pred, what);
    },
    /** Resolves with when a message matching `pred` arrives (registered before the action). */
    next(pred: (m: WireMessage) => boolean, what = 'a message', timeoutMs = 30_000): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: not seen in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        });
      });
    },
  };
}

describe('issue 13 story: two regions, one offline member, nothing deleted left behind', () => {
  let env: TwoRegions;
  const sdk = (region: Region, userId: string) => sdkClient(env.gateways.get(region)!.url, userId);

  before(async () => {
    env = await startTwoRegions({
      keyspacePrefix: 'chat_story',
      pins: { [alice]: 'us-east', [bob]: 'eu-west', [carol]: 'eu-west' },
    });
    // Registered before any client: cleanups run in reverse, so the clients close first.
    onCleanup(() => env.close());
  });

  it('alice changes things in us-east, bob sees each in eu-west, carol catches up to the final state', async (t) => {
    const a = sdk('us-east', alice);
    const b = sdk('eu-west', bob);
    const bobSaw = watch(b);
    const aliceSaw = watch(a);
    await Promise.all([a.connect(), b.connect()]);

    const joined = new Promise<string>((resolve) => b.on('conversation', (e) => resolve(e.conversation.id)));
    const group = (await a.createGroup('launch', [bob, carol])).id;
    assert.equal(await joined, group);

    /** Runs `action` and measures until bob (eu-west) is given a message matching `pred`. */
    const latency: Record<string, number> = {};
    const step = async <T>(name: string, pred: (m: WireMessage) => boolean, action: () => Promise<T>) => {
      const seen = bobSaw.next(pred, name);
      const t0 = Date.now();
      const out = await action();
      latency[name] = (await seen) - t0;
      return out;
    };

    // An old message alice will look for later.
    const old = await step(
      'send',
      (m) => m.body.includes('pineapple'),
      () => a.send(group, 'the pineapple budget is approved'),
    );
    const draft = await a.send(group, 'frist draft of the launch post');
    await bobSaw.seen((m) => m.id === draft.messageId, 'the draft');
    await step(
      'edit',
      (m) => m.id === draft.messageId && m.body === 'first draft of the launch post',
      () => a.edit(group, draft.messageId, 'first draft of the launch post'),
    );

    // A message with an image, then deleted: its body and the file go everywhere.
    const secretPng = solidPng(37, 23, [201, 13, 77]);
    const secretFile = await a.uploadAttachment(group, new Blob([secretPng]), {
      contentType: 'image/png',
      name: 'zebra-plan.png',
    });
    const secret = await step(
      'send with an image',
      (m) => m.attachments?.[0]?.id === secretFile.id,
      () => a.send(group, 'the zebra plan, do not share', { attachments: [secretFile.id] }),
    );
    // Replicated ahead of its message: bob can fetch it in his region.
    assert.deepEqual(Buffer.from(await (await b.downloadAttachment(secretFile.id)).arrayBuffer()), secretPng);
    // bob answers it in a thread before it goes: his reply's quote must not keep the text.
    const risky = await b.send(group, 'sounds risky to me', { replyTo: secret.messageId });
    await aliceSaw.seen((m) => m.id === risky.messageId, "bob's reply, at alice");
    await step(
      'delete',
      (m) => m.id === secret.messageId && m.state?.deleted === true,
      () => a.delete(group, secret.messageId),
    );

    await step(
      'react',
      (m) => m.id === draft.messageId && m.reactions?.entries.some((e) => e.emoji === '👍') === true,
      () => a.react(group, draft.messageId, '👍'),
    );
    await step(
      'react (second emoji)',
      (m) => m.id === draft.messageId && m.reactions?.entries.length === 2,
      () => a.react(group, draft.messageId, '🎉'),
    );
    await step(
      'unreact',
      (m) => m.id === draft.messageId && m.reactions?.entries.length === 1,
      () => a.unreact(group, draft.messageId, '👍'),
    );

    // A reply in a thread under the old message.
    const reply = await step(
      'thread reply',
      (m) => m.threadRoot === old.messageId && m.replyTo?.preview.includes('pineapple') === true,
      () => a.send(group, 'and it covers the venue too', { replyTo: old.messageId }),
    );

    // An image that stays.
    const logoPng = solidPng(12, 8, [30, 160, 90]);
    const logo = await step(
      'upload + send an image',
      (m) => m.attachments?.[0]?.name === 'logo.png',
      async () => {
        const file = await a.uploadAttachment(group, new Blob([logoPng]), {
          contentType: 'image/png',
          name: 'logo.png',
        });
        return { file, sent: await a.send(group, 'our new logo', { attachments: [file.id] }) };
      },
    );
    assert.deepEqual(Buffer.from(await (await b.downloadAttachment(logo.file.id)).arrayBuffer()), logoPng);

    // Search, in alice's region: the old message by a word; the edit and the delete show at once.
    const ids = async (query: string) => (await a.search({ query })).messages.map((m) => m.id);
    assert.deepEqual(await ids('PINEAPPLE'), [old.messageId]);
    assert.deepEqual(await ids('first draft'), [draft.messageId]);
    assert.deepEqual(await ids('frist'), []);
    assert.deepEqual(await ids('zebra'), []);

    t.diagnostic(`seen by bob in eu-west, ms after alice's call in us-east: ${JSON.stringify(latency)}`);
    for (const [name, ms] of Object.entries(latency)) {
      assert.ok(ms <= LIVE_BOUND_MS, `${name}: ${ms} ms`);
    }

    // Bob's client holds the final state too, and no deleted text.
    assert.equal(bobSaw.shown.get(secret.messageId)?.state?.deleted, true);
    assert.equal(bobSaw.shown.get(secret.messageId)?.body, '');
    assert.equal(bobSaw.shown.get(secret.messageId)?.attachments, undefined);

    // Carol comes online in eu-west for the first time, after all of it.
    const c = sdk('eu-west', carol);
    const carolSaw = watch(c);
    await c.connect();
    const expectFinal = (shown: Map<string, WireMessage>) => {
      assert.equal(shown.get(old.messageId)?.body, 'the pineapple budget is approved');
      const edited = shown.get(draft.messageId);
      assert.equal(edited?.body, 'first draft of the launch post');
      assert.equal(edited?.state?.editCount, 1);
      assert.deepEqual(edited?.reactions?.entries, [{ emoji: '🎉', count: 1, users: [alice] }]);
      const deleted = shown.get(secret.messageId);
      assert.equal(deleted?.state?.deleted, true);
      assert.equal(deleted?.body, '');
      assert.equal(deleted?.attachments, undefined);
      assert.equal(deleted?.reactions, undefined);
      const image = shown.get(logo.sent.messageId)?.attachments?.[0];
      assert.deepEqual([image?.id, image?.width, image?.height], [logo.file.id, 12, 8]);
      const threaded = shown.get(reply.messageId);
      assert.equal(threaded?.threadRoot, old.messageId);
      assert.deepEqual(threaded?.replyTo, {
        id: old.messageId,
        senderId: alice,
        preview: 'the pineapple budget is approved',
        deleted: false,
      });
      // The reply to the deleted message stays, its quote blank.
      assert.deepEqual(shown.get(risky.messageId)?.replyTo, {
        id: secret.messageId,
        senderId: alice,
        preview: '',
        deleted: true,
      });
    };
    await eventually(() => expectFinal(carolSaw.shown), { timeoutMs: 20_000 });
    // Her history page agrees, and nothing she was given has the deleted text or file.
    const page = await c.history(group, { limit: 20 });
    expectFinal(new Map(page.messages.map((m) => [m.id, m])));
    assert.ok(!JSON.stringify(carolSaw.all).includes('zebra'), JSON.stringify(carolSaw.all));
    const thread = await c.thread(group, old.messageId);
    assert.deepEqual(
      thread.messages.map((m) => m.body),
      ['and it covers the venue too'],
    );
    assert.equal(thread.root.thread?.replyCount, 1);
    assert.deepEqual(Buffer.from(await (await c.downloadAttachment(logo.file.id)).arrayBuffer()), logoPng);
    await assert.rejects(
      c.downloadAttachment(secretFile.id),
      (e: unknown) => e instanceof ChatClientError && e.code === 'not_found',
    );

    // Every table of both regions' keyspaces: the deleted body and image bytes are nowhere, while
    // the scan does find what stays (so it reads the text and blob columns it should).
    const gone = [Buffer.from('zebra'), secretPng];
    for (const region of TWO_REGIONS) {
      await eventually(
        async () => {
          const rows = await env.everyRow(region);
          for (const needle of gone) {
            const found = rows.filter(({ row }) => Object.values(row).some((v) => holds(v, needle)));
            assert.deepEqual(
              found.map((f) => f.table),
              [],
              `${region}: ${needle.byteLength} bytes of deleted content left`,
            );
          }
          for (const kept of [Buffer.from('pineapple'), logoPng]) {
            assert.ok(
              rows.some(({ row }) => Object.values(row).some((v) => holds(v, kept))),
              `${region}: kept content found by the scan`,
            );
          }
        },
        { timeoutMs: 20_000 },
      );
      // The replication streams, as files on disk: events carry a file's chunks in base64.
      const asStreamed = (b: Buffer) => [b, Buffer.from(b.subarray(0, 48).toString('base64'))];
      await eventually(
        async () => {
          for (const needle of gone.flatMap(asStreamed))
            assert.ok(!(await env.streamFilesHold(region, needle)), `${region}: deleted content in a stream`);
          for (const needle of [Buffer.from('pineapple'), ...asStreamed(logoPng).slice(1)])
            assert.ok(
              await env.streamFilesHold(region, needle),
              `${region}: kept content found in the streams`,
            );
        },
        { timeoutMs: 20_000 },
      );
    }
  });
});
