import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProjectorRig, startKafkaRedis, Churn, BackgroundLoad, type KafkaRedis } from '../../harness/projector-kit.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { waitFor } from '../../harness/wait.ts';

describe('projector: Redis restarts mid-stream (AOF, real Kafka and Redis)', () => {
  let base: KafkaRedis;
  let rig: ProjectorRig;
  let redis: RedisServer;

  before(async () => {
    base = await startKafkaRedis('projector-redis-restart', { redisAof: true });
    redis = base.redis;
  });
  after(async () => {
    await rig?.close();
    await redis?.stop();
    await base?.kafka.stop();
  });

  /** Restarts Redis on the same port and data directory; `crash` = kill -9 (AOF fsyncs every second: a tail may be lost). */
  async function restartRedis(crash: boolean): Promise<void> {
    if (crash) await redis.proc.kill();
    else await redis.stop();
    redis = await startRedis(base.runDir, {
      port: redis.port,
      appendonly: true,
      name: `redis-${crash ? 'crashed' : 'restarted'}`,
    });
  }

  it('carries on after a graceful restart and after a kill -9 of Redis, and equals a clean replay', async () => {
    rig = await ProjectorRig.create(base, { partitions: 3 });
    const churn = new Churn(400, 17);
    await rig.produce(churn.next(2000));
    await rig.produce(rig.resyncEnd('zk1', churn.liveKeys()));
    await rig.startReplica('projector');
    const runId = async () => /run_id:(\w+)/.exec(await rig.redis.info('server'))![1];
    const runIds = [await runId()];
    const version = async () => Number((await rig.redis.get(rig.keys.version)) ?? 0);
    const progress = async (what: string) => {
      const v0 = await version();
      await waitFor(async () => (await version()) >= v0 + 3 || undefined, {
        what: `progress after ${what}`,
        timeoutMs: 90_000,
        intervalMs: 20,
      });
    };

    const load = new BackgroundLoad(rig, churn, 2000).start();
    try {
      await progress('start');
      const before = await version();
      await restartRedis(false);
      await progress('graceful restart');
      runIds.push(await runId());
      assert.ok((await version()) > before, 'the version never went back over a graceful restart');
      // kill -9 loses up to a second of writes (AOF everysec), the version key's last increments among them. The
      // projector's next commit must still be above every version it committed before: istiods already have those.
      const maxBefore = await version();
      await restartRedis(true);
      const afterRestart = await version();
      const next = await waitFor(
        async () => {
          const v = await version();
          return v !== afterRestart ? v : undefined;
        },
        { what: 'a commit after the crash', timeoutMs: 90_000, intervalMs: 10 },
      );
      assert.ok(
        next > maxBefore,
        `version after the crash ${next} (Redis restarted at ${afterRestart}) is above ${maxBefore}, the last before it`,
      );
      await progress('kill -9 restart');
      runIds.push(await runId());
      assert.equal(new Set(runIds).size, 3, 'three different Redis server runs');
    } finally {
      await load.stop();
    }
    await rig.waitCaughtUp(120_000);
    const { diff, resources } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'snapshot equals a clean replay after two Redis restarts');
    assert.ok(resources > 0);
  });
});
