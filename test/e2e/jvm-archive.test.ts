import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { makeRunDir } from '../../harness/paths.ts';
import { startKafka } from '../../harness/kafka.ts';
import { startZooKeeper } from '../../harness/zookeeper.ts';
import { connect, closeClient, statOf } from '../../services/collector/zk-client.ts';

/** The class archives a process has mapped (harness/jvm-archive.ts), read from the kernel, not from the JVM. */
function mappedArchives(pid: number | undefined): string[] {
  assert.ok(pid, 'no pid');
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  return [...new Set(maps.split('\n').flatMap((l) => / (\/\S*\/jvm-archives\/\S+\.jsa)$/.exec(l)?.[1] ?? []))];
}

/**
 * The harness's Kafka and ZooKeeper start from a class archive once one start of theirs has served and stopped
 * cleanly: the second of two starts here maps it, whether this machine's first start ever was the first one here or
 * another test's. And a server started from it works (a topic written and read; a znode read).
 */
/** Starts a server, stops it, starts it again: the second start must map one archive matching `archive`, then serve. */
async function secondStartFromArchive<S extends { proc: { pid: number | undefined }; stop(): Promise<void> }>(
  start: () => Promise<S>,
  archive: RegExp,
  serves: (server: S) => Promise<void>,
): Promise<void> {
  await (await start()).stop();
  const server = await start();
  try {
    const maps = mappedArchives(server.proc.pid);
    assert.equal(maps.length, 1, `mapped: ${maps.join(', ') || 'none'}`);
    assert.match(maps[0]!, archive);
    await serves(server);
  } finally {
    await server.stop();
  }
}

describe('harness JVM servers start from class archives (real Kafka and ZooKeeper)', { timeout: 240_000 }, () => {
  it('given one clean start and stop, the next Kafka broker maps its archive and serves', async () => {
    const runDir = makeRunDir('e2e-jvm-archive-kafka');
    await secondStartFromArchive(
      () => startKafka(runDir),
      /\/kafka-broker-[0-9a-f]{16}\.jsa$/,
      async (kafka) => {
        const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
        const topic = `jvm-archive-${Date.now()}`;
        const admin = client.admin();
        await admin.connect();
        await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
        const producer = client.producer();
        await producer.connect();
        await producer.send({ topic, messages: [{ value: 'from a broker started off its archive' }] });
        await producer.disconnect();
        const offsets = await admin.fetchTopicOffsets(topic);
        await admin.disconnect();
        assert.equal(offsets[0]?.high, '1');
      },
    );
  });

  it('given one clean start and stop, the next ZooKeeper maps its archive and serves', async () => {
    const runDir = makeRunDir('e2e-jvm-archive-zookeeper');
    await secondStartFromArchive(
      () => startZooKeeper(runDir),
      /\/zookeeper-[0-9a-f]{16}\.jsa$/,
      async (zk) => {
        const client = await connect(zk.connectString, 4000);
        try {
          assert.ok(await statOf(client, '/zookeeper'));
        } finally {
          closeClient(client, 'test done');
        }
      },
    );
  });
});
