import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import {
  ProjectorRig,
  startKafkaRedis,
  Churn,
  BackgroundLoad,
  metricValue,
  keyOf,
  stateEvent,
  type KafkaRedis,
} from '../../harness/projector-kit.ts';
import { RedisFollower } from '../../services/xds-gateway/redis-follower.ts';
import { createLogger } from '../../services/shared/log.ts';
import { waitFor } from '../../harness/wait.ts';

describe('meshbridge projector --rebuild (real Kafka and Redis)', () => {
  let base: KafkaRedis;
  let rig: ProjectorRig;
  let follower: RedisFollower | undefined;
  let followerRedis: Redis | undefined;

  before(async () => {
    base = await startKafkaRedis('projector-rebuild');
  });
  after(async () => {
    await follower?.stop();
    followerRedis?.disconnect();
    await rig?.close();
    await base?.stop();
  });

  it('recomputes the snapshot from the topic alone and switches over atomically while live projectors run', async () => {
    rig = await ProjectorRig.create(base, { partitions: 3 });
    // Never removes services: any consistent snapshot has at least as many resources as an earlier one, so a
    // partial snapshot would show up as a drop.
    const churn = new Churn(400, 5, { removeRatio: 0 });
    const quiet = 10_000; // a service no later event touches: its damage stays until the rebuild repairs it
    await rig.produce([stateEvent(quiet, { orderToken: 1 }), ...churn.next(3000)]);
    await rig.produce(rig.resyncEnd('zk1', [...churn.liveKeys(), keyOf(quiet)]));
    const { httpPort } = await rig.startReplica('live');
    await rig.waitCaughtUp();

    // What a projection bug or a damaged Redis leaves behind: a lost resource and one that should not exist.
    const lost = `ServiceEntry|${keyOf(quiet)}`;
    const lostBytes = (await rig.redis.hgetBuffer(rig.keys.resources, lost))!;
    assert.ok(lostBytes.length > 0);
    await rig.redis.hdel(rig.keys.resources, lost);
    await rig.redis.hset(rig.keys.resources, 'ServiceEntry|dubbo/bogus.example.local', 'bogus');
    assert.notEqual((await rig.diffAgainstReplay()).diff, '', 'the damage is visible');

    // A gateway's view of Redis during the rebuild.
    followerRedis = new Redis(base.redis.url);
    follower = new RedisFollower(followerRedis, new Redis(base.redis.url), rig.keys, createLogger('test-follower'));
    const seen: {
      version: number;
      lineage: string;
      complete: boolean;
      size: number;
      hasBogus: boolean;
      hasLost: boolean;
    }[] = [];
    follower.on('snapshot', (s) =>
      seen.push({
        version: s.version,
        lineage: s.lineage,
        complete: s.complete,
        size: s.resources.size,
        hasBogus: s.resources.has('ServiceEntry|dubbo/bogus.example.local'),
        hasLost: s.resources.has(lost),
      }),
    );
    await follower.load();
    follower.start();
    const lineageBefore = await rig.redis.get(rig.keys.lineage);

    const load = new BackgroundLoad(rig, churn, 1000).start();
    const { code, proc } = await rig.rebuild();
    assert.equal(code, 0, `rebuild exits 0 (log ${proc.logFile}):\n${proc.tail()}`);
    await load.stop();
    // A live projector is fenced only when it commits after the switch; the background load may have stopped just
    // before any such commit, so send more events after the switch to be sure one happens.
    await rig.produce(churn.next(20));
    await rig.waitCaughtUp();

    const lineageAfter = await rig.redis.get(rig.keys.lineage);
    assert.notEqual(lineageAfter, lineageBefore, 'the switch starts a new lineage');
    assert.equal((await rig.diffAgainstReplay()).diff, '', 'after the rebuild the snapshot equals a clean replay');
    assert.ok(
      (await rig.redis.hgetBuffer(rig.keys.resources, lost))?.equals(lostBytes),
      'the lost resource is back, byte for byte',
    );

    // The live projector noticed the switch (fenced by the lineage), reloaded and carried on.
    await waitFor(
      async () =>
        metricValue(await rig.metrics(httpPort), 'meshbridge_projector_commits_fenced_total') >= 1 || undefined,
      { what: 'live projector fenced by the switch', timeoutMs: 30_000 },
    );

    // What the gateway saw: always complete, never shrinking, versions rising, the damage gone in one step.
    await waitFor(() => seen.some((s) => s.lineage === lineageAfter) || undefined, {
      what: 'follower on the new lineage',
      timeoutMs: 30_000,
    });
    for (const [i, s] of seen.entries()) {
      assert.ok(s.complete, `snapshot ${i} complete`);
      if (i > 0) {
        assert.ok(s.version > seen[i - 1]!.version, `version rises: ${seen[i - 1]!.version} -> ${s.version}`);
        assert.ok(
          s.size >= seen[i - 1]!.size,
          `never a partial snapshot: ${seen[i - 1]!.size} -> ${s.size} resources at version ${s.version}`,
        );
      }
      if (s.lineage === lineageAfter)
        assert.ok(!s.hasBogus && s.hasLost, `the rebuilt snapshot is whole at version ${s.version}`);
      else assert.ok(s.hasBogus && !s.hasLost, `the old lineage is untouched at version ${s.version}`);
    }

    // Nothing left behind: no staging keys, no rebuild consumer group.
    const [, leftovers] = await rig.redis.scan(
      '0',
      'MATCH',
      `{${rig.mb.config.redis.prefix}}:rebuild:*`,
      'COUNT',
      10_000,
    );
    assert.deepEqual(leftovers, []);
    const admin = rig.kafka.admin();
    await admin.connect();
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    await admin.disconnect();
    assert.ok(!groups.some((g) => g.includes('.rebuild.')), `no rebuild group left: ${groups.join(', ')}`);
  });
});
