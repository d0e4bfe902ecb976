import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { waitFor } from '../../harness/wait.ts';

// A CI machine's wall clock can step (NTP, a paused VM resynchronised): one run lost a test to a 60 s wait that
// "timed out" ~2 s after it began, the wall clock having jumped ~70 s. Waits measure their deadline on the monotonic
// clock.
describe('waitFor', () => {
  const realNow = Date.now;
  afterEach(() => {
    Date.now = realNow;
  });

  it('given the wall clock jumps forward by minutes mid-wait, when the condition holds soon after, then it resolves', async () => {
    let probes = 0;
    const value = await waitFor(
      () => {
        probes += 1;
        if (probes === 1) {
          const jumped = realNow() + 10 * 60_000;
          Date.now = () => jumped;
        }
        return probes >= 4 ? 'ready' : undefined;
      },
      { what: 'the condition', timeoutMs: 2_000, intervalMs: 10 },
    );
    assert.equal(value, 'ready');
    assert.equal(probes, 4);
  });

  it('given a condition that never holds, then it fails at its deadline naming what it waited for and the last error', async () => {
    const t0 = performance.now();
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('connection refused');
        },
        { what: 'the server', timeoutMs: 200, intervalMs: 20 },
      ),
      /timed out after 200 ms waiting for the server: last error: connection refused/,
    );
    assert.ok(performance.now() - t0 >= 200);
  });
});
