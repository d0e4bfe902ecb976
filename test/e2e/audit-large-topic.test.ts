import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import { ensureInstalled } from '../../harness/install.ts';
import { makeRunDir } from '../../harness/paths.ts';
import { startKafka, type KafkaServer } from '../../harness/kafka.ts';
import { encodeEvent } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { Replay } from '../../projection/replay.ts';
import { readTopic, topicRanges } from '../../services/audit/topic-reader.ts';
import { replayTopic } from '../../services/audit/replay-topic.ts';

/**
 * The audit reader on a topic many fetches long (uncompressed, ~2.5 MiB per partition against 1 MiB fetches). A
 * reader that did not advance between fetches re-read the first fetch forever: a 1M-event replay never finished.
 */

const PARTITIONS = 2;
const PER_PARTITION = 1600;

const ev = (i: number, svc: number): RegistryEvent => ({
  eventId: `e${i}`,
  kind: i % 53 === 0 ? 'SERVICE_REMOVED' : 'SERVICE_STATE',
  sourceId: 'zk1',
  sourceKind: 'zookeeper-dubbo',
  collectorId: 'c1',
  epoch: 1,
  generation: 'g',
  observedAt: 1_700_000_000_000 + i,
  namespace: 'dubbo',
  host: `svc${svc}.large`,
  registryService: `com.large.Svc${svc}`,
  orderToken: i,
  ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
  instances:
    i % 53 === 0
      ? []
      : Array.from({ length: 10 }, (_, k) => ({
          address: `10.1.${svc}.${((k + i) % 250) + 1}`,
          ports: { 'tcp-dubbo': 20880 },
          labels: { version: `v${i % 5}`, zone: `z${k % 3}` },
          weight: 0,
          locality: '',
        })),
  issues: [],
  resyncServices: [],
  raw: JSON.stringify({ padding: 'x'.repeat(1500), i }),
});

describe('audit: a topic larger than one fetch', () => {
  let kafka: KafkaServer;
  let client: Kafka;
  const topic = `large-${Date.now()}`;
  const sent = new Map<number, RegistryEvent[]>();

  before(async () => {
    ensureInstalled(['kafka']);
    kafka = await startKafka(makeRunDir('audit-large-topic'));
    client = new Kafka({ clientId: 'audit-large', brokers: kafka.brokers, logLevel: logLevel.WARN });
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await admin.disconnect();
    const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (let p = 0; p < PARTITIONS; p++) {
      const events = Array.from({ length: PER_PARTITION }, (_, i) => ev(p * PER_PARTITION + i, p * 100 + (i % 40)));
      sent.set(p, events);
      for (let i = 0; i < events.length; i += 400) {
        await producer.send({
          topic,
          compression: CompressionTypes.None,
          messages: events
            .slice(i, i + 400)
            .map((e) => ({ partition: p, key: `${e.namespace}/${e.host}`, value: encodeEvent(e) })),
        });
      }
    }
    await producer.disconnect();
  });

  after(async () => {
    await kafka?.stop();
  });

  it('reads every offset exactly once, in order, across many fetches', { timeout: 60_000 }, async () => {
    const ranges = await topicRanges(client, topic);
    assert.deepEqual(
      ranges.map((r) => r.high),
      [BigInt(PER_PARTITION), BigInt(PER_PARTITION)],
    );
    const seen = new Map<number, bigint[]>();
    let batches = 0;
    await readTopic(client, {
      topic,
      ends: new Map(ranges.map((r) => [r.partition, r.high])),
      onBatch: (p, messages) => {
        batches++;
        seen.set(p, [...(seen.get(p) ?? []), ...messages.map((m) => m.offset)]);
        return 'more';
      },
    });
    assert.ok(
      batches > PARTITIONS * 2,
      `the topic took ${batches} fetches: not larger than one fetch per partition, the test proves nothing`,
    );
    for (let p = 0; p < PARTITIONS; p++) {
      assert.deepEqual(
        seen.get(p),
        Array.from({ length: PER_PARTITION }, (_, i) => BigInt(i)),
        `partition ${p}`,
      );
    }
  });

  it('replays it in worker threads to exactly the in-process fold of the same events, at a mid-log cut and at the end', {
    timeout: 60_000,
  }, async () => {
    const ranges = await topicRanges(client, topic);
    const mid = new Map([
      [0, 700n],
      [1, 1234n],
    ]);
    const { results, stats, workers } = await replayTopic(
      client,
      topic,
      ranges,
      [{ kind: 'offsets', offsets: mid }, { kind: 'end' }],
      'test',
      { workers: 2 },
    );
    assert.equal(workers, 2);
    for (const [i, cut] of [
      mid,
      new Map([
        [0, BigInt(PER_PARTITION)],
        [1, BigInt(PER_PARTITION)],
      ]),
    ].entries()) {
      const ref = new Replay();
      for (const [p, events] of sent) ref.apply(p, events.slice(0, Number(cut.get(p))));
      const want = new Map([...ref.resources].sort(([a], [b]) => (a < b ? -1 : 1)));
      assert.ok(want.size > 0);
      assert.deepEqual(results[i]!.resources, want, `cut ${i}`);
      assert.deepEqual(results[i]!.offsets, cut);
      assert.equal(stats[i]!.events, Number(cut.get(0)! + cut.get(1)!));
    }
  });
});
