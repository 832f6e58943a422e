/**
 * Edit and delete in the client SDK: `edit`/`delete`, `update` events on the other devices and
 * for the client's own changes, a device that was offline coming back to the final state, and the
 * rule that drops repeated and stale updates (`MessageStates`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ChatClient,
  ChatClientError,
  MessageStates,
  type UpdateMeta,
  type WireMessage,
} from '../src/client/index.ts';
import { eventually } from './helpers/eventually.ts';
import { startTestGateway } from './helpers/gateway.ts';
import { onCleanup, sdkClient, sdkUser } from './helpers/sdk-clients.ts';

const user = sdkUser;
const client = sdkClient;

/** Every message and update a client emitted, and what it shows per message id in the end. */
function watch(c: ChatClient) {
  const events: Array<[WireMessage, UpdateMeta | null]> = [];
  const shown = new Map<string, WireMessage>();
  c.on('message', (m) => {
    events.push([m, null]);
    shown.set(m.id, m);
  });
  c.on('update', (m, meta) => {
    events.push([m, meta]);
    shown.set(m.id, m);
  });
  return { events, shown };
}

const state = (revision: string, deleted = false) => ({ revision, deleted, editedAt: 1, editCount: 1 });
const wire = (body: string, s?: ReturnType<typeof state>): WireMessage => ({
  id: '100',
  conversationId: 'g:1',
  senderId: 'a',
  clientMsgId: null,
  body,
  createdAt: 1,
  ...(s ? { state: s } : {}),
});

describe('MessageStates', () => {
  it('keeps the larger revision, drops repeats and older states, and a delete is final', () => {
    const states = new MessageStates();
    assert.equal(states.apply(wire('v0')), true);
    assert.equal(states.apply(wire('v2', state('300'))), true);
    assert.equal(states.apply(wire('v2', state('300'))), false, 'a repeat');
    assert.equal(states.apply(wire('v1', state('200'))), false, 'an older state');
    assert.equal(states.current(wire('v0')).body, 'v2', 'an older copy is shown as the newest');
    assert.equal(states.apply(wire('', state('250', true))), true, 'a delete wins over a newer edit');
    assert.equal(states.apply(wire('v9', state('900'))), false, 'nothing after a delete');
    assert.equal(states.current(wire('v0')).state?.deleted, true);
  });
});

describe('MessageStates with reactions', () => {
  it('merges body state and reactions independently, by their own revisions', () => {
    const states = new MessageStates();
    const reactions = (revision: string, n: number) => ({
      revision,
      entries: [{ emoji: '👍', count: n, users: Array.from({ length: n }, (_, i) => `u${i}`) }],
    });
    assert.equal(states.apply({ ...wire('v1', state('300')), reactions: reactions('200', 1) }), true);
    // An older body state with newer reactions: only the reactions are news.
    assert.equal(states.apply({ ...wire('v0', state('100')), reactions: reactions('400', 2) }), true);
    const now = states.current(wire('v0'));
    assert.equal(now.body, 'v1');
    assert.equal(now.reactions?.revision, '400');
    assert.equal(states.apply({ ...wire('v1', state('300')), reactions: reactions('200', 1) }), false);
    // Deleted: no reactions shown.
    assert.equal(states.apply(wire('', state('500', true))), true);
    assert.equal(states.current(wire('v0')).reactions, undefined);
  });
});

describe('ChatClient edit and delete', () => {
  it('edits and deletes; other devices get updates, the offline one comes back to the final state', async () => {
    const gw = await startTestGateway();
    onCleanup(() => gw.stop());
    const [alice, bob, carol] = [user('alice'), user('bob'), user('carol')];
    const a = client(gw.url, alice);
    const b = client(gw.url, bob);
    const c = client(gw.url, carol);
    const [seenA, seenB, seenC] = [watch(a), watch(b), watch(c)];
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    const conv = (await a.createGroup('edits', [bob, carol])).id;
    const { messageId } = await a.send(conv, 'first words');
    const { messageId: other } = await a.send(conv, 'stays');
    await eventually(() => assert.ok(seenC.shown.has(other)));
    await c.close();

    const edited = await a.edit(conv, messageId, 'secret words');
    assert.equal(edited.message.state?.editCount, 1);
    await eventually(() => assert.equal(seenB.shown.get(messageId)?.body, 'secret words'));
    const deleted = await a.delete(conv, messageId);
    assert.equal(deleted.message.state?.deleted, true);
    await eventually(() => assert.equal(seenB.shown.get(messageId)?.state?.deleted, true));
    assert.deepEqual(
      seenB.events.filter(([, meta]) => meta).map(([m, meta]) => [m.id, meta?.kind, meta?.replay]),
      [
        [messageId, 'edit', false],
        [messageId, 'delete', false],
      ],
    );
    // The client's own changes are emitted too, once each.
    assert.deepEqual(
      seenA.events.filter(([, meta]) => meta).map(([, meta]) => meta?.changeId),
      [edited.changeId, deleted.changeId],
    );
    await assert.rejects(a.edit(conv, messageId, 'again'), (e: unknown) => {
      return e instanceof ChatClientError && e.code === 'message_deleted';
    });

    // Carol comes back: the final state, and the deleted body nowhere in what she was given.
    await c.connect();
    await eventually(() => assert.equal(seenC.shown.get(messageId)?.state?.deleted, true));
    assert.equal(seenC.shown.get(messageId)?.body, '');
    assert.equal(seenC.shown.get(other)?.body, 'stays');
    assert.ok(!JSON.stringify(seenC.events).includes('secret'));
  });
});
