import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pacer } from '../../services/collector/pacer.ts';

/** A clock that only moves when the pacer sleeps (or the test says so). */
function fakeClock() {
  let t = 1_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    advance: (ms: number) => {
      t += ms;
    },
    clock: {
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
      },
    },
  };
}

describe('collector pacer (periodic re-read)', () => {
  it('given 500 calls a second, 1,000 instant calls take two seconds, slept in slack-sized steps', async () => {
    const f = fakeClock();
    const pace = pacer(500, 20, f.clock);
    for (let i = 0; i < 1000; i++) await pace();
    const slept = f.sleeps.reduce((a, b) => a + b, 0);
    assert.ok(slept >= 1970 && slept <= 2000, `slept ${slept} ms`);
    assert.ok(f.sleeps.length <= 100, `${f.sleeps.length} sleeps: calls go in bursts, not one timer each`);
  });

  it('does not sleep while calls are slower than the rate', async () => {
    const f = fakeClock();
    const pace = pacer(100, 20, f.clock);
    for (let i = 0; i < 50; i++) {
      await pace();
      f.advance(15); // each read takes longer than 1/100 s
    }
    assert.deepEqual(f.sleeps, []);
  });

  it('banks no credit for a pause: after a stall it keeps the rate instead of bursting', async () => {
    const f = fakeClock();
    const pace = pacer(100, 20, f.clock);
    await pace();
    f.advance(5_000); // ZooKeeper was slow for 5 s
    for (let i = 0; i < 10; i++) await pace();
    const slept = f.sleeps.reduce((a, b) => a + b, 0);
    assert.ok(slept >= 60, `10 calls at 100/s after the stall slept ${slept} ms (>= ~80 expected, not 0)`);
  });
});
