/** The wire form of routed frames on NATS (`src/routing/envelope.ts`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeControl,
  decodeRouted,
  EnvelopeError,
  encodeControl,
  encodeRouted,
} from '../src/routing/envelope.ts';
import type { Routed } from '../src/routing/types.ts';

describe('routing envelope', () => {
  it('round-trips messages and events, frames byte for byte', () => {
    const frames = ['', '{"op":"x"}', 'line\nbreak\r\n m1 2\n', 'héllo ✓ 😀', 'x'.repeat(70_000)];
    for (const frame of frames) {
      const cases: Routed[] = [
        { kind: 'event', frame },
        { kind: 'message', messageId: '271828182845904523', createdAt: 1795000000123, frame },
        { kind: 'message', messageId: 'x', createdAt: 0, frame },
      ];
      for (const routed of cases) {
        for (const userIds of [['a'], ['alice', 'b_2', 'c-3']]) {
          assert.deepEqual(decodeRouted(encodeRouted(routed, userIds)), { userIds, routed });
        }
      }
    }
  });

  it('keeps the header to one short line', () => {
    assert.equal(encodeRouted({ kind: 'event', frame: '{}' }, ['u1', 'u2']), 'eu1,u2\n{}');
    assert.equal(
      encodeRouted({ kind: 'message', messageId: '12', createdAt: 34, frame: '{}' }, ['u1']),
      'm12 34 u1\n{}',
    );
  });

  it('refuses message ids that are not one header token', () => {
    for (const messageId of ['', 'a b', 'a\nb', 'x'.repeat(65)]) {
      assert.throws(
        () => encodeRouted({ kind: 'message', messageId, createdAt: 1, frame: '' }, ['u']),
        EnvelopeError,
        JSON.stringify(messageId),
      );
    }
  });

  it('refuses a payload without recipients', () => {
    assert.throws(() => encodeRouted({ kind: 'event', frame: '' }, []), EnvelopeError);
  });

  it('rejects malformed payloads', () => {
    const bads = [
      '',
      '{"op":"message"}',
      'x\n{}',
      'e\n{}',
      'm12\n{}',
      'm12 34\n{}',
      'm12 abc u\n{}',
      'm 5 u\n{}',
    ];
    for (const bad of bads) {
      assert.throws(() => decodeRouted(bad), EnvelopeError, JSON.stringify(bad));
    }
  });

  it('round-trips control events and rejects unknown ones', () => {
    const event = { type: 'members_changed', conversationId: 'g:1' } as const;
    assert.deepEqual(decodeControl(encodeControl(event)), event);
    const blocks = { type: 'blocks_changed', userId: 'alice' } as const;
    assert.deepEqual(decodeControl(encodeControl(blocks)), blocks);
    assert.throws(() => decodeControl('{"type":"blocks_changed","conversationId":"g:1"}'), EnvelopeError);
    assert.throws(() => decodeControl('{"type":"reboot"}'), EnvelopeError);
    assert.throws(() => decodeControl('null'), EnvelopeError);
  });
});
