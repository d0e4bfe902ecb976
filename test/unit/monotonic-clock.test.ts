import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { monotonicMs } from '../../services/shared/monotonic.ts';

// The collector's lease is dated by two threads (lease-keeper.ts, lease-renewal-worker.ts) and must not move with
// the wall clock: both properties are what monotonicMs() is for.
describe('monotonicMs', () => {
  it('given the wall clock steps forward, then the monotonic clock does not', () => {
    const realNow = Date.now;
    const before = monotonicMs();
    try {
      const jumped = realNow() + 3_600_000;
      Date.now = () => jumped;
      assert.ok(monotonicMs() - before < 1_000);
    } finally {
      Date.now = realNow;
    }
  });

  it('reads the same clock in a worker thread as in the main thread', async () => {
    const before = monotonicMs();
    // The worker reads the same source the module does: process.hrtime in milliseconds.
    const worker = new Worker(
      "require('node:worker_threads').parentPort.postMessage(Number(process.hrtime.bigint() / 1000000n))",
      { eval: true },
    );
    const inWorker = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const after = monotonicMs();
    await worker.terminate();
    assert.ok(before <= inWorker && inWorker <= after, `${before} <= ${inWorker} <= ${after}`);
  });
});
