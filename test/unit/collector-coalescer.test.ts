import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer } from '../../services/collector/coalescer.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Coalescer (leading edge + one trailing fire per window)', () => {
  it('fires an isolated change at once, and a burst as at most one more fire per window', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const fired: [string, number][] = [];
    const c = new Coalescer<string>(
      20,
      (k) => fired.push([k, now]),
      () => now,
    );
    c.touch('a');
    t.mock.timers.tick(0);
    assert.deepEqual(fired, [['a', 0]]);
    for (const at of [1, 5, 9, 15]) {
      now = at;
      c.touch('a');
    }
    // The first of those touches (at 1) armed one timer for the window's end, 19 ms later.
    t.mock.timers.tick(18);
    assert.equal(fired.length, 1, 'nothing before the window ends');
    now = 20;
    t.mock.timers.tick(1);
    assert.deepEqual(fired, [
      ['a', 0],
      ['a', 20],
    ]);
    now = 100;
    c.touch('a');
    c.touch('b');
    t.mock.timers.tick(0);
    assert.deepEqual(fired.slice(2), [
      ['a', 100],
      ['b', 100],
    ]);
    c.stop();
  });

  it('stop cancels pending fires', async () => {
    const fired: string[] = [];
    const c = new Coalescer<string>(5, (k) => fired.push(k));
    c.touch('x');
    c.stop();
    c.touch('y');
    await tick(20);
    assert.deepEqual(fired, []);
  });
});
