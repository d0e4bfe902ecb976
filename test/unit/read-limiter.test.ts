import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReadLimiter } from '../../services/collector/read-limiter.ts';

/** A read that finishes when the test says so. */
function controlledReads() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  let running = 0;
  let maxRunning = 0;
  const read = (k: string) =>
    new Promise<void>((resolve, reject) => {
      started.push(k);
      running++;
      maxRunning = Math.max(maxRunning, running);
      finish.set(k, () => {
        running--;
        if (k.startsWith('fail')) reject(new Error(k));
        else resolve();
      });
    });
  return { started, finish, read, max: () => maxRunning };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('ReadLimiter: bounded watch-driven reads', () => {
  it('given a limit of 2, when 5 keys arrive at once, then 2 read and the rest wait in arrival order', async () => {
    const r = controlledReads();
    const l = new ReadLimiter(2, r.read);
    for (const k of ['a', 'b', 'c', 'd', 'e']) l.submit(k);
    assert.deepEqual(r.started, ['a', 'b']);
    assert.deepEqual(l.queued(), ['c', 'd', 'e']);
    r.finish.get('a')!();
    await tick();
    assert.deepEqual(r.started, ['a', 'b', 'c']);
    for (const k of ['b', 'c', 'd', 'e']) {
      r.finish.get(k)?.();
      await tick();
    }
    assert.deepEqual(r.started, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(r.max(), 2);
  });

  it('given a key already waiting, when it is touched again, then it is read once', async () => {
    const r = controlledReads();
    const l = new ReadLimiter(1, r.read);
    l.submit('a');
    l.submit('b');
    l.submit('b');
    assert.deepEqual(l.queued(), ['b']);
    r.finish.get('a')!();
    await tick();
    r.finish.get('b')!();
    await tick();
    assert.deepEqual(r.started, ['a', 'b']);
  });

  it('given a read that fails, when it settles, then its slot goes to the next key', async () => {
    const r = controlledReads();
    const l = new ReadLimiter(1, r.read);
    l.submit('fail-1');
    l.submit('x');
    r.finish.get('fail-1')!();
    await tick();
    assert.deepEqual(r.started, ['fail-1', 'x']);
  });
});
