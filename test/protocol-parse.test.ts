/**
 * The validator at the edge, for what the gateway scenarios do not already cover over the wire:
 * a direct conversation id must be the one id both users derive; a frame without `op`; a send's
 * `attempt`; the connect parameters; search queries and how text splits into search terms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ChatError,
  ErrorCode,
  parseClientRequest,
  parseConnectParams,
  SEARCH_DEFAULT_LIMIT,
  SEARCH_MAX_LIMIT,
  SEARCH_QUERY_MAX_CHARS,
  searchTerms,
} from '../src/protocol/index.ts';

const limits = { maxBodyChars: 8000, maxGroupMembers: 100, maxHistoryLimit: 200 };

function rejectsField(raw: Record<string, unknown>, field: string): void {
  assert.throws(
    () => parseClientRequest(raw, limits),
    (err: unknown) =>
      err instanceof ChatError && err.code === ErrorCode.InvalidField && err.details?.field === field,
  );
}

describe('parseClientRequest: direct conversation ids', () => {
  it('accepts the canonical id of two different users', () => {
    const f = parseClientRequest(
      { op: 'send', id: 'r1', conversationId: 'dm:alice:eve', body: 'hi' },
      limits,
    );
    assert.equal(f.op === 'send' && f.conversationId, 'dm:alice:eve');
  });

  it('refuses the reversed id (it would be a second conversation for the same pair)', () => {
    rejectsField({ op: 'send', id: 'r1', conversationId: 'dm:eve:alice', body: 'hi' }, 'conversationId');
    rejectsField({ op: 'history', id: 'r2', conversationId: 'dm:eve:alice' }, 'conversationId');
    rejectsField({ op: 'typing', conversationId: 'dm:eve:alice' }, 'conversationId');
  });

  it('refuses a direct conversation with oneself', () => {
    rejectsField({ op: 'send', id: 'r1', conversationId: 'dm:eve:eve', body: 'hi' }, 'conversationId');
    rejectsField({ op: 'read', id: 'r3', conversationId: 'dm:eve:eve', messageId: '1' }, 'conversationId');
  });
});

describe('parseClientRequest: mute and unmute', () => {
  it('takes a conversation id and nothing else; a bad id is invalid_field', () => {
    const mute = parseClientRequest({ op: 'mute', id: 'r1', conversationId: 'g:1' }, limits);
    assert.deepEqual(mute, { op: 'mute', id: 'r1', conversationId: 'g:1' });
    const unmute = parseClientRequest({ op: 'unmute', id: 'r2', conversationId: 'dm:alice:eve' }, limits);
    assert.deepEqual(unmute, { op: 'unmute', id: 'r2', conversationId: 'dm:alice:eve' });
    rejectsField({ op: 'mute', id: 'r3', conversationId: 'dm:eve:eve' }, 'conversationId');
    rejectsField({ op: 'unmute', id: 'r4' }, 'conversationId');
  });
});

describe('parseClientRequest: replies and threads', () => {
  it("reads send's optional replyTo and thread's rootId and cursors", () => {
    const send = parseClientRequest(
      { op: 'send', id: 'r1', conversationId: 'g:1', body: 'hi', replyTo: '42' },
      limits,
    );
    assert.equal(send.op === 'send' && send.replyTo, 42n);
    const plain = parseClientRequest({ op: 'send', id: 'r1', conversationId: 'g:1', body: 'hi' }, limits);
    assert.equal(plain.op === 'send' && plain.replyTo, null);
    const thread = parseClientRequest(
      { op: 'thread', id: 'r2', conversationId: 'g:1', rootId: '42', after: '43', limit: 1000 },
      limits,
    );
    assert.deepEqual(thread, {
      op: 'thread',
      id: 'r2',
      conversationId: 'g:1',
      rootId: 42n,
      before: null,
      after: 43n,
      limit: 200,
    });
  });

  it('refuses a bad replyTo, a thread without rootId, and both cursors', () => {
    rejectsField({ op: 'send', id: 'r1', conversationId: 'g:1', body: 'hi', replyTo: 'x' }, 'replyTo');
    rejectsField({ op: 'thread', id: 'r2', conversationId: 'g:1' }, 'rootId');
    rejectsField(
      { op: 'thread', id: 'r2', conversationId: 'g:1', rootId: '1', before: '2', after: '1' },
      'after',
    );
  });
});

describe('parseClientRequest: op', () => {
  it('answers a missing or non-string op with invalid_field on `op`, echoing the request id', () => {
    rejectsField({ id: 'r1', conversationId: 'g:1' }, 'op');
    rejectsField({ op: 7, id: 'r1' }, 'op');
    assert.throws(
      () => parseClientRequest({ id: 'r9' }, limits),
      (err: unknown) => err instanceof ChatError && err.details?.requestId === 'r9',
    );
  });
});

describe('parseClientRequest: send attempt', () => {
  const send = { op: 'send', id: 'r1', conversationId: 'g:1', body: 'hi', clientMsgId: 'c1' };

  it('takes a positive integer, and absence or null as "unknown"', () => {
    const parsed = (extra: Record<string, unknown>) => {
      const f = parseClientRequest({ ...send, ...extra }, limits);
      return f.op === 'send' ? f.attempt : 'not a send';
    };
    assert.equal(parsed({ attempt: 1 }), 1);
    assert.equal(parsed({ attempt: 3 }), 3);
    assert.equal(parsed({}), null);
    assert.equal(parsed({ attempt: null }), null);
  });

  it('refuses anything else with invalid_field on `attempt`', () => {
    for (const attempt of [0, -1, 1.5, '1', true, [1]]) rejectsField({ ...send, attempt }, 'attempt');
  });
});

describe('parseConnectParams', () => {
  const rejects = (raw: { device?: string; resume?: string; since?: string }, field: string) =>
    assert.throws(
      () => parseConnectParams(raw),
      (err: unknown) =>
        err instanceof ChatError && err.code === ErrorCode.InvalidField && err.details?.field === field,
    );

  it('takes absent or empty parameters as their defaults', () => {
    assert.deepEqual(parseConnectParams({}), { device: 'unknown', resume: null, since: null });
    assert.deepEqual(parseConnectParams({ device: '', resume: '', since: '' }), {
      device: 'unknown',
      resume: null,
      since: null,
    });
    assert.deepEqual(parseConnectParams({ device: 'd'.repeat(32), resume: 'v1.eu-west.5.7', since: '42' }), {
      device: 'd'.repeat(32),
      resume: { region: 'eu-west', t: 5, afterId: 7n },
      since: 42n,
    });
  });

  it('refuses an over-long device and a since that is not a message id', () => {
    rejects({ device: 'd'.repeat(33) }, 'device');
    for (const since of ['abc', '-1', '1.5', ' 1', '9223372036854775808']) rejects({ since }, 'since');
  });

  it('refuses a resume that is not a position', () => {
    for (const resume of ['abc', 'v2.x.1', 'v1.X.1', 'v1.x.1a', 'v1.x.1.2.3', `v1.x.1.${'9'.repeat(20)}`]) {
      rejects({ resume }, 'resume');
    }
    rejects({ resume: `v1.x.${'1'.repeat(130)}` }, 'resume');
  });
});

describe('parseClientRequest: search', () => {
  it('fills defaults, caps the page and keeps the query as sent', () => {
    assert.deepEqual(parseClientRequest({ op: 'search', id: 's1', query: ' Apple  PIE ' }, limits), {
      op: 'search',
      id: 's1',
      query: ' Apple  PIE ',
      conversationId: null,
      before: null,
      limit: SEARCH_DEFAULT_LIMIT,
    });
    const f = parseClientRequest(
      { op: 'search', id: 's2', query: 'x', conversationId: 'g:1', before: '42', limit: 10_000 },
      limits,
    );
    assert.deepEqual(f.op === 'search' && [f.conversationId, f.before, f.limit], [
      'g:1',
      42n,
      SEARCH_MAX_LIMIT,
    ]);
  });

  it('refuses queries with no words, too many words or too many characters', () => {
    for (const query of ['', '  ', '?!…', 'a b c d e f g h i', 'x'.repeat(SEARCH_QUERY_MAX_CHARS + 1), 42]) {
      rejectsField({ op: 'search', id: 's1', query }, 'query');
    }
    // Eight distinct words is the most; repeated words count once.
    parseClientRequest({ op: 'search', id: 's1', query: 'a b c d e f g h a b' }, limits);
  });
});

describe('searchTerms', () => {
  it('splits on Unicode word boundaries and folds case and width', () => {
    assert.deepEqual(searchTerms('Hello, WORLD! fox-trot isn’t ＦＵＬＬ 3.14 École'), [
      'hello',
      'world',
      'fox',
      'trot',
      'isn’t',
      'full',
      '3.14',
      'école',
    ]);
    assert.deepEqual(searchTerms('🎉 ... '), []);
    assert.equal(searchTerms('a'.repeat(100))[0]?.length, 64);
  });
});
