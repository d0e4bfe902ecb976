import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProjectorRig,
  startKafkaRedis,
  Churn,
  BackgroundLoad,
  metricValue,
  type KafkaRedis,
} from '../../harness/projector-kit.ts';
import { waitFor } from '../../harness/wait.ts';

describe('projector: replicas and forced rebalances under load (real Kafka and Redis)', () => {
  let base: KafkaRedis;
  let rig: ProjectorRig;

  before(async () => {
    base = await startKafkaRedis('projector-rebalance');
  });
  after(async () => {
    await rig?.close();
    await base?.stop();
  });

  it('hands partitions over on joins, graceful leaves and kill -9 without losing or doubling an effect', async () => {
    rig = await ProjectorRig.create(base, { partitions: 6 });
    const churn = new Churn(600, 31);
    await rig.produce(churn.next(3000));
    await rig.produce(rig.resyncEnd('zk1', churn.liveKeys()));
    const version = async () => Number((await rig.redis.get(rig.keys.version)) ?? 0);
    const progress = async (what: string) => {
      const v0 = await version();
      await waitFor(async () => (await version()) >= v0 + 3 || undefined, {
        what: `progress after ${what}`,
        timeoutMs: 90_000,
        intervalMs: 20,
      });
    };

    const a = await rig.startReplica('a');
    const b = await rig.startReplica('b');
    const load = new BackgroundLoad(rig, churn, 2000).start();
    try {
      await progress('two replicas');
      const c = await rig.startReplica('c'); // join: partitions move under load
      await progress('c joined');
      await a.proc.stop(); // graceful leave
      await progress('a left');
      const d = await rig.startReplica('d');
      await progress('d joined');
      await b.proc.kill(); // crash: its partitions move after the session timeout
      await progress('b killed');
      await c.proc.stop();
      await progress('c left');
      const owned = metricValue(await rig.metrics(d.httpPort), 'meshbridge_projector_partitions_owned');
      assert.ok(owned >= 1, `the survivor owns partitions (${owned})`);
    } finally {
      await load.stop();
    }
    await rig.waitCaughtUp(120_000);
    const { diff, resources } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'snapshot equals a clean replay after five rebalances under load');
    assert.ok(resources > 0);
  });
});
