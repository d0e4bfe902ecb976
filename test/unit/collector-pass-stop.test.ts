import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { forEachLimit, PassStopped } from '../../services/collector/source.ts';
import { ResyncRunner } from '../../services/collector/resync-runner.ts';
import type { CollectorMetrics } from '../../services/collector/metrics.ts';
import type { Logger } from '../../services/shared/log.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('a full resync stops with its source (shutdown, lost leadership)', () => {
  it('given no stop, every item is visited, with at most `limit` in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachLimit(
      Array.from({ length: 50 }, (_, i) => i),
      4,
      async (i) => {
        most = Math.max(most, ++inFlight);
        await tick();
        seen.push(i);
        inFlight--;
      },
      () => false,
    );
    assert.equal(seen.length, 50);
    assert.equal(most, 4);
  });

  it('given a stop after 10 items, no new item starts, the ones in flight finish, and it throws PassStopped', async () => {
    let stopped = false;
    const started: number[] = [];
    let finished = 0;
    const run = forEachLimit(
      Array.from({ length: 1000 }, (_, i) => i),
      4,
      async (i) => {
        started.push(i);
        if (started.length === 10) stopped = true;
        await tick();
        finished++;
      },
      () => stopped,
    );
    await assert.rejects(run, (e: unknown) => e instanceof PassStopped && e.total === 1000 && e.done === finished);
    assert.ok(started.length <= 10 + 3, `${started.length} items started`);
    assert.equal(finished, started.length, 'every started item finished before the throw');
  });

  it('given a stop during the last items (all taken), it still throws: an item may have skipped its work', async () => {
    let stopped = false;
    const run = forEachLimit(
      [1, 2, 3],
      8,
      async () => {
        await tick();
        stopped = true;
      },
      () => stopped,
    );
    await assert.rejects(run, PassStopped);
  });

  it('given a pass that ends in PassStopped, the runner logs it, counts no error and schedules no retry', async () => {
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const logAt =
      (level: string) =>
      (fields: Record<string, unknown>, msg: string): void => {
        lines.push({ level, msg, fields });
      };
    const log = { info: logAt('info'), error: logAt('error'), warn: logAt('warn') } as unknown as Logger;
    const counted: string[] = [];
    const counter = (name: string) => ({ inc: () => counted.push(name), observe: () => counted.push(name) });
    const metrics = {
      resyncs: counter('resyncs'),
      resyncSeconds: counter('resyncSeconds'),
      errors: counter('errors'),
    } as unknown as CollectorMetrics;
    let passes = 0;
    let failures = 0;
    const runner = new ResyncRunner({
      sourceId: 'zk1',
      log,
      metrics,
      retryMs: 1,
      isStopped: () => passes > 0,
      pass: async () => {
        passes++;
        throw new PassStopped(7, 50_000);
      },
      onFailure: () => failures++,
    });
    await runner.run('periodic');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(passes, 1, 'no retry');
    assert.equal(failures, 0);
    assert.deepEqual(counted, [], 'neither an error nor a completed resync is counted');
    assert.equal(runner.firstDone, false);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.fields.done, l.fields.of]),
      [['info', 'full resync stopped with its source; no end marker', 7, 50_000]],
    );
  });
});
