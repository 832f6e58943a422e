/**
 * The `search` op end to end, run inside `gatewayScenarios` on every gateway setup (embedded,
 * real services), over the raw protocol and Socket.IO: what a user finds is exactly the matching
 * messages of the conversations they belong to now, newest first, page by page.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { SearchResult } from '../src/protocol/index.ts';
import type { Frame, TestClient } from './helpers/client.ts';
import type { IoConnectOptions, IoTestClient } from './helpers/io-client.ts';

export interface SearchEnv {
  open(i: number, userId: string): Promise<TestClient>;
  openIo(i: number, userId: string, opts?: IoConnectOptions): Promise<IoTestClient>;
  user(name: string): string;
  dm(a: string, b: string): string;
}

type Client = TestClient | IoTestClient;

/** Every page of a search, following nextBefore; each page's ids. */
async function allPages(c: Client, fields: Record<string, unknown>): Promise<string[][]> {
  const pages: string[][] = [];
  let before: string | null = null;
  for (let i = 0; i < 50; i++) {
    const page: SearchResult = await c.call('search', { ...fields, ...(before ? { before } : {}) });
    pages.push(page.messages.map((m) => m.id));
    if (page.nextBefore === null) return pages;
    before = page.nextBefore;
  }
  throw new Error('search did not finish paging in 50 pages');
}

const idOf = (f: Frame) => String(f.messageId);

export function searchScenarios(env: () => SearchEnv): void {
  it('searches the conversations the user belongs to: all words, newest first, paged; not others', async () => {
    const { open, user, dm } = env();
    const [alice, bob, carol, dave] = [user('alice'), user('bob'), user('carol'), user('dave')];
    const a = await open(0, alice);
    const b = await open(1, bob);
    const c = await open(0, carol);
    const g = (await a.call('createGroup', { title: 'bakers', members: [bob, carol] })).conversation.id;
    const secret = (await c.call('createGroup', { title: 'secret', members: [dave] })).conversation.id;

    const inDm = idOf(await a.request('send', { conversationId: dm(alice, bob), body: 'Apple pie recipe?' }));
    const inGroup1 = idOf(await b.request('send', { conversationId: g, body: 'apple tart, then PIE' }));
    await b.request('send', { conversationId: g, body: 'pears only' });
    const inGroup2 = idOf(await c.request('send', { conversationId: g, body: 'the apple crumble' }));
    await c.request('send', { conversationId: secret, body: 'apple pie for dave only' });

    const all: SearchResult = await a.call('search', { query: 'apple' });
    assert.deepEqual(
      all.messages.map((m) => m.id),
      [inGroup2, inGroup1, inDm],
    );
    assert.equal(all.nextBefore, null);
    assert.equal(all.messages[2]?.body, 'Apple pie recipe?');
    // Every word must match, in any case.
    assert.deepEqual(
      (await a.call('search', { query: 'PIE apple' })).messages.map((m) => m.id),
      [inGroup1, inDm],
    );
    // One conversation only.
    assert.deepEqual(
      (await a.call('search', { query: 'apple', conversationId: g })).messages.map((m) => m.id),
      [inGroup2, inGroup1],
    );
    // Page by page: each match once, in order.
    assert.deepEqual((await allPages(a, { query: 'apple', limit: 1 })).flat(), [inGroup2, inGroup1, inDm]);

    // A conversation the user is not in is not_found, exactly as one that does not exist.
    const foreign = await a.request('search', { query: 'apple', conversationId: secret });
    const missing = await a.request('search', { query: 'apple', conversationId: 'g:123' });
    assert.deepEqual([foreign.code, missing.code], ['not_found', 'not_found']);
    assert.equal(foreign.message, missing.message);

    // Leaving a group takes its messages out of the user's results at once.
    await c.call('removeMembers', { conversationId: g, userIds: [carol] });
    const carolNow: SearchResult = await c.call('search', { query: 'apple' });
    assert.deepEqual(
      carolNow.messages.map((m) => m.body),
      ['apple pie for dave only'],
    );
  });

  it('answers bad search queries with invalid_field and stays usable', async () => {
    const { open, user } = env();
    const a = await open(0, user('alice'));
    const bad: [Record<string, unknown>, string][] = [
      [{}, 'query'],
      [{ query: '' }, 'query'],
      [{ query: ' ?! ' }, 'query'],
      [{ query: 'x'.repeat(201) }, 'query'],
      [{ query: 'a b c d e f g h i' }, 'query'],
      [{ query: 'ok', limit: 0 }, 'limit'],
      [{ query: 'ok', before: 'abc' }, 'before'],
      [{ query: 'ok', conversationId: 42 }, 'conversationId'],
    ];
    for (const [fields, field] of bad) {
      const reply = await a.request('search', fields);
      assert.equal(reply.code, 'invalid_field', JSON.stringify(fields));
      assert.deepEqual(reply.details, { field }, JSON.stringify(fields));
    }
    assert.deepEqual(await a.call('search', { query: 'nothing matches this' }), {
      messages: [],
      nextBefore: null,
    });
  });

  it('searches over Socket.IO like over the raw protocol', async () => {
    const { open, openIo, user, dm } = env();
    const [alice, bob] = [user('alice'), user('bob')];
    const a = await open(0, alice);
    const b = await openIo(1, bob, { transports: ['websocket'] });
    const sent = idOf(
      await a.request('send', { conversationId: dm(alice, bob), body: 'socket searchable words' }),
    );
    const found: SearchResult = await b.call('search', { query: 'Searchable socket' });
    assert.deepEqual(
      found.messages.map((m) => m.id),
      [sent],
    );
    const err = await b.request('search', { query: '' });
    assert.equal(err.code, 'invalid_field');
    const foreign = await b.request('search', { query: 'words', conversationId: dm(alice, 'mallory') });
    assert.equal(foreign.code, 'not_found');
  });
}
