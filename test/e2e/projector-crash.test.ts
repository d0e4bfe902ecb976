import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProjectorRig, startKafkaRedis, Churn, BackgroundLoad, type KafkaRedis } from '../../harness/projector-kit.ts';
import { waitFor } from '../../harness/wait.ts';

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

/** Kafka's committed (advisory) offsets of the projector group, per partition. */
async function kafkaCommitted(rig: ProjectorRig): Promise<bigint[]> {
  const admin = rig.kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: rig.mb.config.projector.groupId, topics: [rig.topic] });
    const out = Array.from({ length: rig.partitions }, () => 0n);
    for (const p of t!.partitions) out[p.partition] = p.offset === '-1' ? 0n : BigInt(p.offset);
    return out;
  } finally {
    await admin.disconnect();
  }
}

describe('projector: kill -9 at any point loses nothing and doubles nothing (real Kafka and Redis)', () => {
  let base: KafkaRedis;
  const rigs: ProjectorRig[] = [];

  before(async () => {
    base = await startKafkaRedis('projector-crash');
  });
  after(async () => {
    for (const r of rigs) await r.close();
    await base?.stop();
  });

  async function preloaded(events: number, seed: number): Promise<ProjectorRig> {
    const rig = await ProjectorRig.create(base, { partitions: 3 });
    rigs.push(rig);
    const churn = new Churn(400, seed);
    await rig.produce(churn.next(events));
    await rig.produce(rig.resyncEnd('zk1', churn.liveKeys()));
    await rig.produce(churn.next(events / 2));
    return rig;
  }

  it('kill -9 mid-batch (folded in memory, nothing written yet)', async () => {
    const rig = await preloaded(6000, 7);
    const high = await rig.highWatermarks();
    const { proc } = await rig.startReplica('crash-mid', { MESHBRIDGE_PROJECTOR_FAILPOINT: 'after-fold:2' });
    await rig.waitForLog(proc, 'failpoint reached');
    const before = await rig.storedOffsets();
    await proc.kill();
    assert.ok(sum(before) < sum(high), 'the halted batch was not committed');

    await rig.startReplica('after-crash');
    await rig.waitCaughtUp();
    const { diff, resources } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'snapshot equals a clean replay after the crash');
    assert.ok(resources > 0);
  });

  it('kill -9 right after the Redis commit (before Kafka offsets, metrics, heartbeat)', async () => {
    const rig = await preloaded(6000, 11);
    const { proc } = await rig.startReplica('crash-after-commit', { MESHBRIDGE_PROJECTOR_FAILPOINT: 'after-commit:2' });
    await rig.waitForLog(proc, 'failpoint reached');
    const stored = await rig.storedOffsets();
    const committed = await kafkaCommitted(rig);
    await proc.kill();
    assert.ok(
      stored.some((o, p) => o > committed[p]!),
      `Redis is ahead of Kafka's committed offsets (redis ${stored}, kafka ${committed})`,
    );
    const versionAtCrash = Number(await rig.redis.get(rig.keys.version));

    await rig.startReplica('after-crash');
    await rig.waitCaughtUp();
    const { diff } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'the committed batch was neither lost nor applied twice');
    assert.ok(Number(await rig.redis.get(rig.keys.version)) >= versionAtCrash, 'version never goes back');
  });

  it('kill -9 at arbitrary moments under continuous load, four times', async () => {
    const rig = await ProjectorRig.create(base, { partitions: 3 });
    rigs.push(rig);
    const churn = new Churn(300, 23);
    await rig.produce(churn.next(2000));
    await rig.produce(rig.resyncEnd('zk1', churn.liveKeys()));
    const load = new BackgroundLoad(rig, churn, 2000).start();
    try {
      for (let round = 0; round < 4; round++) {
        const { proc } = await rig.startReplica(`victim-${round}`);
        const v0 = Number((await rig.redis.get(rig.keys.version)) ?? 0);
        // Let it commit a few batches (a different number each round), then kill it wherever it is.
        await waitFor(async () => Number((await rig.redis.get(rig.keys.version)) ?? 0) >= v0 + 2 + round, {
          what: `round ${round} progress`,
          timeoutMs: 60_000,
          intervalMs: 20,
        });
        await proc.kill();
      }
    } finally {
      const produced = await load.stop();
      assert.ok(produced > 0);
    }
    await rig.startReplica('survivor');
    await rig.waitCaughtUp(120_000);
    const { diff, resources } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'snapshot equals a clean replay after four kill -9s under load');
    assert.ok(resources > 0);
  });
});
