import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startKafka, type KafkaServer } from '../../harness/kafka.ts';
import { parseConfig, type ZooKeeperDubboSourceConfig } from '../../services/shared/config.ts';
import { FencedError } from '../../services/shared/errors.ts';
import { collectorMetrics } from '../../services/collector/metrics.ts';
import { Publisher } from '../../services/collector/publisher.ts';
import type { StateToPublish } from '../../services/collector/decider.ts';

const state = (host: string): StateToPublish => ({
  token: null,
  hash: host,
  state: {
    namespace: 'dubbo',
    host,
    registryService: host,
    ports: [{ number: 20880, protocol: 'TCP', name: 'tcp-dubbo' }],
    instances: [],
    issues: [],
  },
});

/** Resolves with the promise's outcome, or 'pending' if it has not settled within `ms`. */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((r) => setTimeout(() => r('pending'), ms)),
  ]);

describe('collector publisher: a replica that lost its leadership answers every later publish at once (real Kafka)', () => {
  let kafka: KafkaServer;
  before(async () => {
    ensureInstalled(['kafka']);
    kafka = await startKafka(makeRunDir('publisher-fence'));
  });
  after(async () => {
    await kafka?.stop();
  });

  it('publishes while leading; once fenced, every publish rejects with FencedError (none waits forever)', async () => {
    const topic = `fence-${Date.now()}`;
    const cfg = parseConfig({
      kafka: { brokers: kafka.brokers, topic, partitions: 2 },
      redis: { url: 'redis://127.0.0.1:6379' },
      sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181' }],
    });
    const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    let leading = true;
    const fence = () => {
      if (!leading) throw new FencedError('epoch 7 no longer leads', { epoch: 7 });
    };
    const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
    const p = new Publisher(
      cfg,
      client,
      cfg.sources[0] as ZooKeeperDubboSourceConfig,
      'c1',
      7,
      collectorMetrics(new Registry()),
      fence,
    );
    await p.connect(2);
    try {
      await p.publishState(state('a.dubbo'), 'g1', null);
      leading = false;
      // The publisher is idle: the first batch after the fence fails synchronously inside the flush loop.
      const first = await within(p.publishState(state('b.dubbo'), 'g1', null), 10_000);
      assert.ok(first instanceof FencedError, `first publish after the fence: ${String(first)}`);
      const later = await within(
        Promise.all([p.publishState(state('c.dubbo'), 'g1', null), p.publishResyncEnd('g1', ['dubbo/a.dubbo'])]),
        10_000,
      );
      assert.ok(later instanceof FencedError, `later publishes reject too, never hang: ${String(later)}`);
    } finally {
      await p.disconnect();
    }
  });
});
