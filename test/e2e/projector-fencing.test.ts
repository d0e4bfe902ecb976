import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../schemas/event-codec.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import {
  ProjectorRig,
  startKafkaRedis,
  stateEvent,
  removedEvent,
  keyOf,
  metricValue,
  type KafkaRedis,
} from '../../harness/projector-kit.ts';
import { waitFor } from '../../harness/wait.ts';

const field = (i: number) => `ServiceEntry|${keyOf(i)}`;

describe('projector: duplicates, out-of-order, stale-epoch and poison events against real Kafka and Redis', () => {
  let base: KafkaRedis;
  let rig: ProjectorRig;
  let httpPort: number;

  before(async () => {
    base = await startKafkaRedis('projector-fencing');
  });
  after(async () => {
    await rig?.close();
    await base?.stop();
  });

  it('ignores what must be ignored, dead-letters what can never apply, and equals a clean replay', async () => {
    rig = await ProjectorRig.create(base, { partitions: 3 });
    ({ httpPort } = await rig.startReplica('projector'));

    const first = stateEvent(1, { orderToken: 10, variant: 0 });
    const firstBytes = encodeEvent(first);
    // Once a source's epoch 2 is seen, every later event of the superseded epoch 1 is fenced: the rest use epoch 2.
    const invalid = { ...stateEvent(3, { orderToken: 1, epoch: 2 }), host: 'com.example.Bad:1.0.0' };
    const badLabel = stateEvent(4, { orderToken: 1, epoch: 2 });
    badLabel.instances[0]!.labels.bad = 'spaces are not label values';
    const invalidBytes = encodeEvent(invalid);
    const badLabelBytes = encodeEvent(badLabel);
    const garbage = Buffer.from('definitely not avro');
    await rig.produce([
      { bytes: firstBytes, key: keyOf(1) },
      { bytes: firstBytes, key: keyOf(1) }, // adjacent duplicate (a producer retry without idempotence)
      stateEvent(1, { orderToken: 11, variant: 1 }), // newer: applied
      { bytes: firstBytes, key: keyOf(1) }, // late duplicate of an older state: older order token
      stateEvent(1, { orderToken: 9, variant: 2 }), // out of order: older token
      stateEvent(2, { epoch: 1, orderToken: 5, variant: 0 }),
      stateEvent(2, { epoch: 2, orderToken: 6, variant: 3 }), // a new collector epoch (tokens are the registry's, so still rising)
      stateEvent(2, { epoch: 1, orderToken: 99, variant: 4 }), // the superseded collector's late event: fenced
      { bytes: invalidBytes, key: `dubbo/${invalid.host}` },
      { bytes: badLabelBytes, key: keyOf(4) },
      { bytes: garbage, key: keyOf(5) },
      stateEvent(4, { orderToken: 2, epoch: 2 }), // the service itself is fine once its data is
    ]);
    await rig.produce(rig.resyncEnd('zk1', [keyOf(1), keyOf(2), keyOf(4)], 2));
    await rig.waitCaughtUp();

    const { diff, resources } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'redis snapshot equals a clean replay');
    assert.equal(resources, 3);

    const live = await rig.redis.hgetallBuffer(rig.keys.resources);
    const svc1 = decodeResource(live[field(1)]!).body as {
      endpoints: { address: string; labels: Record<string, string> }[];
    };
    assert.equal(svc1.endpoints[0]!.labels.version, '1.0.1', 'service 1 holds the newest order token (variant 1)');
    const svc2 = decodeResource(live[field(2)]!).body as { endpoints: { labels: Record<string, string> }[] };
    assert.equal(
      svc2.endpoints[0]!.labels.version,
      '1.0.3',
      'service 2 holds the epoch-2 state, not the fenced epoch-1 event',
    );
    assert.equal(live[`ServiceEntry|dubbo/${invalid.host}`], undefined);

    const m = await rig.metrics(httpPort);
    assert.equal(metricValue(m, 'meshbridge_projector_events_ignored_total', { reason: 'older-order-token' }), 2);
    assert.equal(metricValue(m, 'meshbridge_projector_events_ignored_total', { reason: 'stale-epoch' }), 1);
    assert.equal(metricValue(m, 'meshbridge_projector_events_ignored_total', { reason: 'invalid' }), 2);
    assert.equal(metricValue(m, 'meshbridge_projector_events_dead_lettered_total', { reason: 'invalid' }), 2);
    assert.equal(metricValue(m, 'meshbridge_projector_events_dead_lettered_total', { reason: 'undecodable' }), 1);
    assert.ok(metricValue(m, 'meshbridge_projector_snapshot_version') >= 1);
    assert.equal(metricValue(m, 'meshbridge_projector_resources'), 3);
    assert.equal(metricValue(m, 'meshbridge_projector_lag_events'), 0);

    // The dead-letter topic holds the original bytes with the reason and where they came from.
    const dlqHigh = await waitFor(
      async () => {
        const h = await rig.highWatermarks(rig.dlqTopic);
        return h[0]! >= 3n ? h : undefined;
      },
      { what: 'three dead letters', timeoutMs: 10_000 },
    );
    const [dlq] = await rig.readTopic(dlqHigh, rig.dlqTopic);
    assert.equal(dlq!.length, 3);
    const byReason = (r: string) => dlq!.filter((x) => String(x.headers['meshbridge-reason']) === r);
    assert.equal(byReason('undecodable').length, 1);
    assert.ok(byReason('undecodable')[0]!.value!.equals(garbage));
    const inv = byReason('invalid');
    assert.equal(inv.length, 2);
    assert.ok(
      inv.some((x) => x.value!.equals(invalidBytes) && /not a DNS name/.test(String(x.headers['meshbridge-detail']))),
    );
    assert.ok(
      inv.some((x) => x.value!.equals(badLabelBytes) && /label value/.test(String(x.headers['meshbridge-detail']))),
    );
    for (const x of dlq!) {
      assert.equal(String(x.headers['meshbridge-topic']), rig.topic);
      assert.match(String(x.headers['meshbridge-offset']), /^\d+$/);
    }
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    assert.equal(ready.status, 200, 'still ready after poison events');
  });

  it('a removed service is not revived by a late re-delivery of an earlier event of the same publisher (tombstone)', async () => {
    // Consul-like events: no registry order token, only the publisher's epoch and sequence number (schema v3).
    const registered = { ...stateEvent(6, { orderToken: null, epoch: 2 }), seq: 1 };
    const registeredBytes = encodeEvent(registered);
    await rig.produce([
      { bytes: registeredBytes, key: keyOf(6) },
      { ...removedEvent(6, { orderToken: null, epoch: 2 }), seq: 2 },
      { bytes: registeredBytes, key: keyOf(6) }, // the same event delivered again, after the removal
    ]);
    await rig.waitCaughtUp();
    const live = await rig.redis.hgetallBuffer(rig.keys.resources);
    assert.equal(live[field(6)], undefined, 'the re-delivered earlier state did not revive the removed service');
    const m = await rig.metrics(httpPort);
    assert.equal(metricValue(m, 'meshbridge_projector_events_ignored_total', { reason: 'removed-later' }), 1);
    const { diff } = await rig.diffAgainstReplay();
    assert.equal(diff, '', 'redis snapshot equals a clean replay');
    // The publisher registering it again (a later sequence number) brings it back.
    await rig.produce([{ ...stateEvent(6, { orderToken: null, epoch: 2, variant: 1 }), seq: 3 }]);
    await rig.waitCaughtUp();
    assert.ok((await rig.redis.hgetallBuffer(rig.keys.resources))[field(6)], 'registered again: back');
  });
});
