/**
 * npm run bench:replay — how fast `meshbridge replay` rebuilds a snapshot from a real Kafka topic.
 *
 * Produces EVENTS registry events into a fresh topic on a real single-node Kafka (the harness's), gzip-compressed like
 * the collector's: SERVICES Dubbo-like services, each event a service's complete state of ~10 instances (4 labels each,
 * churn of addresses and versions), ~2% removals, a resync marker per partition every 100k events, the first 30% written
 * with schema v1 (resolved to v2 on read). Then replays the whole topic to a snapshot in a separate process — the code
 * path of `meshbridge replay` — and reports wall time, events/s, where the time went and peak RSS.
 * Results: bench/results/replay.json. Environment: BENCH_EVENTS (default 1,000,000), BENCH_SERVICES (default 20,000).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import { encodeEvent, encodeEventAs } from '../schemas/event-codec.ts';
import type { RegistryEvent } from '../schemas/registry-event.ts';
import { makeRunDir } from '../harness/paths.ts';
import { startKafka } from '../harness/kafka.ts';
import { ensureInstalled } from '../harness/install.ts';
import { topicRanges } from '../services/audit/topic-reader.ts';
import { replayTopic } from '../services/audit/replay-topic.ts';
import { writeResult, machineInfo } from './support.ts';

const TOPIC = 'meshbridge.bench.replay';
const PARTITIONS = 6;

async function child(brokers: string[]): Promise<void> {
  const kafka = new Kafka({ clientId: 'bench-replay', brokers, logLevel: logLevel.WARN });
  const ranges = await topicRanges(kafka, TOPIC);
  const {
    results: [res],
    stats: [stats],
    seconds,
    workers,
  } = await replayTopic(kafka, TOPIC, ranges, [{ kind: 'end' }], 'replay');
  const s = stats!;
  process.stdout.write(
    JSON.stringify({
      seconds,
      events: s.events,
      applied: s.applied,
      ignored: s.ignored,
      bySchema: s.bySchema,
      undecodable: s.undecodable.length,
      resources: res!.resources.size,
      workers,
      decodeAndFoldSeconds: s.foldMs / 1000,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }) + '\n',
  );
}

function event(i: number, svc: number, rnd: () => number, epoch: number): RegistryEvent {
  const host = `com.bench.svc${svc}.service`;
  const base = {
    eventId: `bench-${i}`,
    sourceId: 'zk-bench',
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'bench-collector',
    epoch,
    generation: 'g1',
    observedAt: 1_700_000_000_000 + i,
    namespace: 'dubbo',
    host,
    registryService: `com.bench.Svc${svc}`,
    orderToken: i,
    ports: [],
    instances: [],
    issues: [],
    resyncServices: [],
    raw: null,
  } satisfies Partial<RegistryEvent>;
  if (rnd() < 0.02) return { ...base, kind: 'SERVICE_REMOVED' };
  const n = 9 + Math.floor(rnd() * 3);
  const instances = Array.from({ length: n }, (_, k) => ({
    address: `10.${svc % 250}.${Math.floor(svc / 250) % 250}.${((k + Math.floor(rnd() * 4)) % 250) + 1}`,
    ports: { 'tcp-dubbo': 20880 },
    labels: {
      app: `app-${svc % 500}`,
      version: `1.${Math.floor(rnd() * 3)}.0`,
      'dubbo.apache.org/release': '3.2.9',
      'meshbridge.io/source': 'zk-bench',
    },
    weight: 100,
    locality: '',
  }));
  return {
    ...base,
    kind: 'SERVICE_STATE',
    ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
    instances,
    raw: JSON.stringify({
      path: `/dubbo/com.bench.Svc${svc}/providers`,
      providers: instances.map((x) => `${x.address}:20880`),
    }),
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!.split(','));
  const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
  const SERVICES = Number(process.env.BENCH_SERVICES ?? 20_000);
  ensureInstalled(['kafka']);
  const runDir = makeRunDir('bench-replay');
  const server = await startKafka(runDir);
  try {
    const kafka = new Kafka({ clientId: 'bench-producer', brokers: server.brokers, logLevel: logLevel.WARN });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: TOPIC, numPartitions: PARTITIONS, configEntries: [{ name: 'max.message.bytes', value: '16777216' }] },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();

    const alive = new Set<string>();
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: PARTITIONS }, (_, i) => ({
      partitionId: i,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    const partitionOf = (key: string) =>
      partitioner({ topic: TOPIC, partitionMetadata, message: { key, value: null } });
    // mulberry32: a deterministic 32-bit generator (integer arithmetic, so no precision loss in doubles).
    let seed = 42;
    const rnd = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
    };
    const t0 = performance.now();
    let bytes = 0;
    const CHUNK = 5000;
    for (let i = 0; i < EVENTS; i += CHUNK) {
      const messages = [];
      for (let j = i; j < Math.min(EVENTS, i + CHUNK); j++) {
        const ev = event(j, Math.floor(rnd() * SERVICES), rnd, 1);
        const value = j < EVENTS * 0.3 ? encodeEventAs('registry-event.v1.avsc', ev) : encodeEvent(ev);
        bytes += value.length;
        messages.push({ key: `${ev.namespace}/${ev.host}`, value });
        if (ev.kind === 'SERVICE_STATE') alive.add(`${ev.namespace}/${ev.host}`);
        else alive.delete(`${ev.namespace}/${ev.host}`);
        if ((j + 1) % 100_000 === 0) {
          // A periodic full resync: one marker per partition listing that partition's live services (heals nothing here).
          for (let p = 0; p < PARTITIONS; p++) {
            const resyncServices = [...alive].filter((k) => partitionOf(k) === p).sort();
            messages.push({
              key: 'resync/zk-bench',
              partition: p,
              value: encodeEvent({
                ...ev,
                kind: 'RESYNC_END',
                namespace: '',
                host: '',
                registryService: '',
                orderToken: null,
                ports: [],
                instances: [],
                raw: null,
                resyncServices,
              }),
            });
          }
        }
      }
      await producer.send({ topic: TOPIC, compression: CompressionTypes.GZIP, acks: 1, messages });
      if (process.stderr.isTTY)
        process.stderr.write(`\rproduced ${Math.min(EVENTS, i + CHUNK).toLocaleString('en-US')} events`);
    }
    await producer.disconnect();
    const produceSeconds = (performance.now() - t0) / 1000;
    process.stderr.write(
      `\nproduced ${EVENTS} events (${(bytes / 2 ** 20).toFixed(0)} MiB uncompressed, avg ${Math.round(bytes / EVENTS)} B) in ${produceSeconds.toFixed(1)} s\n`,
    );

    // The replay runs in its own process so its peak memory is its own, not the producer's.
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', server.brokers.join(',')],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let s = '';
      c.stdout.on('data', (d) => {
        s += d;
      });
      c.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`replay child exited ${code}`))));
    });
    const r = JSON.parse(out);
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        memGiB: Math.round(os.totalmem() / 2 ** 30),
      }),
      kafka: 'harness single-node KRaft 3.9.1 on loopback',
      topic: { partitions: PARTITIONS, compression: 'gzip' },
      workload: {
        events: EVENTS,
        services: SERVICES,
        avgEventBytes: Math.round(bytes / EVENTS),
        instancesPerState: '9-11',
        removals: '~2%',
        schemaV1Share: 0.3,
        produceSeconds: Number(produceSeconds.toFixed(1)),
      },
      replay: {
        seconds: Number(r.seconds.toFixed(2)),
        eventsPerSecond: Math.round(r.events / r.seconds),
        events: r.events,
        applied: r.applied,
        ignored: r.ignored,
        bySchema: r.bySchema,
        resources: r.resources,
        workerThreads: r.workers,
        // Summed over the worker threads, which run in parallel with each other and with the Kafka reads.
        decodeAndFoldSecondsAllWorkers: Number(r.decodeAndFoldSeconds.toFixed(2)),
        peakRssMiB: r.peakRssMiB,
      },
      // The target is about 1,000,000 events: a smaller run cannot meet it, whatever its time.
      target: { events: 1_000_000, seconds: 60, met: EVENTS >= 1_000_000 && r.seconds <= 60 },
    };
    writeResult('replay.json', result);
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    await server.stop();
    fs.rmSync(path.join(runDir, 'kafka', 'data'), { recursive: true, force: true }); // ~1 GiB of log segments
  }
}

await main();
