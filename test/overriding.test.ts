/** `overriding()`: decorators that list only what they change (src/util/overriding.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overriding } from '../src/util/overriding.ts';

interface Counter {
  add(n: number): number;
  reset(): void;
  readonly total: number;
}

class PrivateCounter implements Counter {
  #total = 0;
  add(n: number): number {
    this.#total += n;
    return this.#total;
  }
  reset(): void {
    this.#total = 0;
  }
  get total(): number {
    return this.#total;
  }
}

describe('overriding', () => {
  it('forwards every member not overridden, with the inner object as this', () => {
    const inner = new PrivateCounter();
    const outer = overriding<Counter>(inner, { reset: () => {} });
    assert.equal(outer.add(2), 2);
    assert.equal(outer.add(3), 5);
    assert.equal(outer.total, 5);
    outer.reset();
    assert.equal(inner.total, 5, 'reset is overridden');
    const { add } = outer;
    assert.equal(add(1), 6, 'a detached method still runs on the inner object');
  });

  it('forwards members the inner object gains later', () => {
    const inner: Record<string, () => string> = { a: () => 'a' };
    const outer = overriding(inner, {});
    inner.b = () => 'b';
    assert.equal(outer.b?.(), 'b');
  });
});
