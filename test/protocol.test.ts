/**
 * The protocol's catalogues at run time: every error code has retry advice, every close code a
 * reason, docs/protocol.md lists them all (with the same advice), and src/protocol stays
 * importable by a browser (nothing from outside its folder, no Node modules).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CloseCode as SdkCloseCode } from '../src/client/index.ts';
import {
  CLOSE_REASONS,
  CloseCode,
  closeReason,
  ERRORS,
  ErrorCode,
  isRetryable,
  type RetryAdvice,
} from '../src/protocol/index.ts';

const root = join(import.meta.dirname, '..');
const doc = readFileSync(join(root, 'docs/protocol.md'), 'utf8');

/** The rows of the first table after `heading` in docs/protocol.md, as arrays of trimmed cells. */
function tableAfter(heading: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/protocol.md has a "${heading}" section`);
  const lines = doc.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
  }
  return rows;
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');
const ADVICE: readonly RetryAdvice[] = ['never', 'backoff', 'reconnect', 'new_token'];

describe('error catalogue', () => {
  it('gives every error code retry advice, and lists no other code', () => {
    assert.deepEqual(Object.keys(ERRORS).sort(), Object.values(ErrorCode).sort());
    for (const [code, info] of Object.entries(ERRORS)) {
      assert.ok(ADVICE.includes(info.retry), `${code}: ${info.retry}`);
    }
  });

  it('calls retryable exactly what the SDK resent before the catalogue existed', () => {
    const retryable = Object.values(ErrorCode).filter(isRetryable).sort();
    assert.deepEqual(retryable, ['internal', 'rate_limited', 'shutting_down', 'unavailable']);
    assert.equal(isRetryable('some_future_code'), false);
  });

  it('is the table in docs/protocol.md, with the same advice', () => {
    const rows = tableAfter('## Errors');
    const documented = new Map(rows.map((r) => [unquote(r[0]!), unquote(r[r.length - 1]!)]));
    assert.deepEqual([...documented.keys()].sort(), Object.values(ErrorCode).sort());
    for (const [code, advice] of documented) {
      assert.equal(advice, ERRORS[code as ErrorCode].retry, `retry advice of ${code}`);
    }
  });
});

describe('close codes', () => {
  it('give every close code a reason within the 123 bytes a close frame allows', () => {
    assert.deepEqual(Object.keys(CLOSE_REASONS).map(Number).sort(), Object.values(CloseCode).sort());
    for (const code of Object.values(CloseCode)) {
      const reason = closeReason(code, 'presence or routing unavailable');
      assert.ok(CLOSE_REASONS[code].length > 0, `reason for ${code}`);
      assert.ok(new TextEncoder().encode(reason).length <= 123, `${code}: ${reason}`);
      assert.ok(reason.includes(CLOSE_REASONS[code]));
    }
    assert.equal(closeReason(CloseCode.RateLimited), CLOSE_REASONS[CloseCode.RateLimited]);
  });

  it('are in the table in docs/protocol.md, which lists only them and the client-side 1006', () => {
    const documented = tableAfter('## Close codes').map((r) => Number.parseInt(r[0]!, 10));
    for (const code of Object.values(CloseCode)) assert.ok(documented.includes(code), `${code} documented`);
    for (const code of documented) {
      assert.ok(
        (Object.values(CloseCode) as number[]).includes(code) || code === SdkCloseCode.NoCloseFrame,
        `${code} is a protocol close code`,
      );
    }
  });

  it('keep their values in the SDK, beside its own codes', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      assert.equal(SdkCloseCode[name as keyof typeof CloseCode], code, name);
    }
  });
});

describe('src/protocol', () => {
  it('imports nothing outside its folder and no Node module (the web app bundles it)', () => {
    const dir = join(root, 'src/protocol');
    let seen = 0;
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const [, spec] of text.matchAll(/(?:import|export)\b[^'"]*?from\s+'([^']+)'/g)) {
        assert.match(spec!, /^\.\/[\w.-]+\.ts$/, `${file} imports ${spec}`);
        seen++;
      }
      assert.doesNotMatch(text, /\bimport\(|\brequire\(/, `${file}: no dynamic imports`);
    }
    assert.ok(seen >= 10, `found the imports (${seen})`);
  });
});
