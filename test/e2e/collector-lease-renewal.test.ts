import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { waitFor } from '../../harness/wait.ts';
import { parseConfig } from '../../services/shared/config.ts';
import { leaseKeys } from '../../snapshot-store/keys.ts';
import { RedisLease } from '../../services/collector/redis-lease.ts';
import { LeaseKeeper } from '../../services/collector/lease-keeper.ts';
import { monotonicMs } from '../../services/shared/monotonic.ts';

const LEASE_MS = 1_000;
const LIVENESS_MS = 3_000;

/** Holds this thread for `ms` without yielding: what a long synchronous read or a long GC does to the collector. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
}

describe('the collector keeps its lease from another thread while its main thread is held up', () => {
  let server: RedisServer;
  let redis: Redis;

  before(async () => {
    server = await startRedis(makeRunDir('e2e-lease-renewal'));
    redis = new Redis(server.url);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('a blocked main thread keeps the lease; a main thread that stops beating loses it within liveness + lease', async () => {
    const cfg = parseConfig({
      kafka: { brokers: ['127.0.0.1:9092'] },
      redis: { url: server.url },
      collector: { id: 'c1' },
      sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181' }],
    });
    const keys = leaseKeys(cfg.redis.prefix, 'zk1');
    const lease = new RedisLease(redis, keys, 'c1', LEASE_MS);
    let failed: Error | undefined;
    const keeper = new LeaseKeeper(cfg, 'zk1', keys.lease, LEASE_MS, LIVENESS_MS, (e) => {
      failed = e;
    });
    try {
      // The main thread renews as the supervisor does until the worker (its thread takes a moment to load) has renewed
      // the epoch too.
      let epoch = 0;
      await waitFor(
        async () => {
          if (failed) throw Object.assign(failed, { fatal: true });
          const got = await lease.acquire();
          assert.equal(got.held, true);
          epoch = got.epoch;
          keeper.lead(epoch);
          return keeper.renewal()?.epoch === epoch || undefined;
        },
        { what: 'a renewal by the background thread', timeoutMs: 30_000, intervalMs: 200 },
      );

      // Given a main thread that cannot run for twice the lease (its own renewals stop)
      const blockedAt = monotonicMs(); // the clock renewals are dated with
      keeper.heartbeat();
      block(2 * LEASE_MS);
      // Then the lease is still ours, renewed during the block
      assert.equal(await redis.get(keys.lease), `c1|${epoch}`);
      const r = keeper.renewal();
      assert.ok(r && r.sentAt > blockedAt + LEASE_MS / 2, `renewed while blocked (last at ${r?.sentAt})`);

      // Given a main thread that stops beating for longer than the liveness window (a wedged process)
      keeper.heartbeat();
      block(LIVENESS_MS + 2 * LEASE_MS);
      // Then the worker stopped renewing and the lease expired, so a standby can take over
      assert.equal(await redis.get(keys.lease), null);
    } finally {
      await keeper.close();
    }
  });
});
