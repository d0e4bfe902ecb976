/**
 * Collector benchmark: real ZooKeeper, Kafka and Redis started by the harness; BENCH_SERVICES Dubbo interfaces ×
 * BENCH_INSTANCES providers registered in ZooKeeper exactly as Dubbo does; one real `meshbridge collector` process
 * (leader election on, as in production); then BENCH_RATE registry changes per second (a provider registers or
 * unregisters on a random interface) for BENCH_SECONDS.
 *
 *   npm run bench:collector     (BENCH_SERVICES=10000 BENCH_INSTANCES=10 BENCH_RATE=100 BENCH_SECONDS=60)
 *
 * Latency = Kafka's append time of the first event whose instance set reflects a change (the topic is created with
 * message.timestamp.type=LogAppendTime, so the broker stamps it) minus the moment ZooKeeper acknowledged the write
 * (the change is committed). Same host, same clock. Also reports the initial full resync (time and events/s), the
 * collector's CPU and memory. Writes bench/results/collector.json.
 */
import os from 'node:os';
import crypto from 'node:crypto';
import { makeRunDir } from '../harness/paths.ts';
import { startServers, pipeline } from '../harness/stack.ts';
import { EventTail } from '../harness/event-tail.ts';
import { waitFor } from '../harness/wait.ts';
import { DubboRegistrar } from '../harness/dubbo-registrar.ts';
import { connect, zookeeper } from '../services/collector/zk-client.ts';
import { mkdirp } from '../harness/zk-write.ts';
import {
  createAppendTimeTopic,
  createNode,
  pool,
  procStats,
  writeResult,
  machineInfo,
  startCollectorFirstPass,
} from './support.ts';
import { addressSequence, KafkaArrivals, paced } from './churn.ts';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const PARTITIONS = 6;

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const iface = (i: number) => `org.bench.Service${i}`;
const hostOf = (i: number) => `org.bench.service${i}`;

/** Cumulative share of a histogram's samples per bucket ("<=10ms": 0.93, ...). */
async function histogram(port: number, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const rows = text
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket`))
    .map((l) => [/le="([^"]+)"/.exec(l)![1]!, Number(l.split(' ').pop())] as const);
  const total = rows.find(([le]) => le === '+Inf')?.[1] ?? 0;
  return Object.fromEntries(
    rows
      .filter(([le]) => le !== '+Inf')
      .map(([le, n]) => [`<=${Number(le) * 1000}ms`, Number((n / (total || 1)).toFixed(4))]),
  );
}

async function main(): Promise<void> {
  const runDir = makeRunDir('bench-collector');
  log(`starting ZooKeeper, Kafka, Redis in ${runDir}`);
  const servers = await startServers(runDir);
  const id = crypto.randomBytes(3).toString('hex');
  const root = `/dubbo-bench-${id}`;
  const mb = await pipeline(servers, {
    sources: [
      {
        id: 'zk-bench',
        kind: 'zookeeper-dubbo',
        connect: servers.zookeeper.connectString,
        root,
        sessionTimeoutMs: 30_000,
      },
    ],
    kafka: { partitions: PARTITIONS },
  });
  let collectorPid: number | undefined;
  const zk = await connect(servers.zookeeper.connectString, 30_000);
  const registrar = await DubboRegistrar.open(servers.zookeeper.connectString, root);
  try {
    // The topic, created before the collector: broker-stamped append times make the latency measurement honest.
    await createAppendTimeTopic(servers.kafka.brokers, mb.config.kafka.topic, PARTITIONS);

    log(`registering ${SERVICES} interfaces × ${INSTANCES} providers in ZooKeeper`);
    const t0 = performance.now();
    await mkdirp(zk, root);
    const providers = new Map<number, string[]>(); // interface -> "ip:port" list
    const nextIp = addressSequence();
    await pool(
      Array.from({ length: SERVICES }, (_, i) => i),
      256,
      async (i) => {
        await createNode(zk, `${root}/${iface(i)}`, zookeeper.CreateMode.PERSISTENT);
        await createNode(zk, `${root}/${iface(i)}/providers`, zookeeper.CreateMode.PERSISTENT);
        const list: string[] = [];
        await Promise.all(
          Array.from({ length: INSTANCES }, async () => {
            const ip = nextIp();
            list.push(`${ip}:20880`);
            await createNode(
              zk,
              `${root}/${iface(i)}/providers/${DubboRegistrar.providerUrl(iface(i), ip, 20880)}`,
              zookeeper.CreateMode.EPHEMERAL,
            );
          }),
        );
        providers.set(i, list);
      },
    );
    log(`registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
    // Providers are keyed "ip:port", as the registry list holds them.
    const arrivals = new KafkaArrivals(tail, (x) => `${x.address}:${Object.values(x.ports)[0]}`);

    log('starting the collector (full resync of the whole registry)');
    const {
      proc,
      seconds: resyncSeconds,
      events: resyncEvents,
    } = await startCollectorFirstPass(mb, 'zk-bench', { timeoutMs: 600_000, intervalMs: 200 });
    collectorPid = proc.pid;
    log(`resync: ${resyncEvents} events in ${resyncSeconds.toFixed(1)} s (process start included)`);
    await waitFor(() => tail.services('zk-bench').size >= SERVICES, {
      what: 'every service in Kafka',
      timeoutMs: 300_000,
      intervalMs: 200,
    });
    const afterResync = procStats(collectorPid!);

    log(`churn: ${RATE} changes/s for ${SECONDS} s`);
    const startedAt = performance.now();
    const epochStart = Date.now();
    const cpuBefore = procStats(collectorPid!).cpuSeconds;
    const loadBefore = os.loadavg()[0]!;
    let changes = 0;
    await paced(RATE, RATE * SECONDS, async () => {
      const i = Math.floor(Math.random() * SERVICES);
      const list = providers.get(i)!;
      const issuedAt = Date.now();
      if (list.length > 1 && Math.random() < 0.5) {
        const [addr] = list.splice(Math.floor(Math.random() * list.length), 1);
        await registrar.unregister(
          `${root}/${iface(i)}/providers/${DubboRegistrar.providerUrl(iface(i), addr!.split(':')[0]!, 20880)}`,
        );
      } else {
        const ip = nextIp();
        await registrar.register(iface(i), ip, 20880);
        list.push(`${ip}:20880`);
      }
      arrivals.expect(hostOf(i), list, Date.now(), issuedAt);
      changes++;
    });
    const churnSeconds = (performance.now() - startedAt) / 1000;
    await arrivals.settle(60_000, log);
    const cpuAfter = procStats(collectorPid!);
    const buckets = await histogram(mb.ports.collectorHttp, 'meshbridge_collector_publish_queue_seconds');
    const produceBuckets = await histogram(mb.ports.collectorHttp, 'meshbridge_collector_publish_seconds');
    const publishedDuringChurn = tail.events.filter(
      (e) => e.appendedAt >= epochStart && e.event.kind === 'SERVICE_STATE',
    ).length;
    const latency = arrivals.summary();
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        note: "shared 2-core machine; other engineers' processes compete for CPU",
      }),
      workload: {
        services: SERVICES,
        instancesPerService: INSTANCES,
        znodes: SERVICES * (INSTANCES + 2),
        changesPerSecond: RATE,
        seconds: SECONDS,
        partitions: PARTITIONS,
        coalesceMs: 20,
        leaderElection: true,
        compression: 'gzip',
        acks: 'all',
      },
      initialResync: {
        seconds: Number(resyncSeconds.toFixed(2)),
        events: resyncEvents,
        eventsPerSecond: Math.round(resyncEvents / resyncSeconds),
        collectorRssMiB: afterResync.rssMiB,
      },
      churn: {
        changes,
        achievedRate: Number((changes / churnSeconds).toFixed(1)),
        measured: arrivals.latencies.length,
        eventsPublished: publishedDuringChurn,
        latencyMs: {
          fromZooKeeperAck: latency.fromAck,
          fromWriteIssued: latency.fromIssued,
        },
        target: 'p99 <= 50 ms from registry change to Kafka append',
        // Inside the collector: queueing + Kafka produce round trip per event (cumulative share per bucket, whole run).
        collectorQueueToAckShare: buckets,
        // Kafka produce round trip alone (one per batch), whole run.
        kafkaProduceShare: produceBuckets,
        // The machine's 1-minute load average at the start and end of the churn (2 cores: above 2 means waiting for CPU).
        loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
        collectorCpuPercent: Number((((cpuAfter.cpuSeconds - cpuBefore) / churnSeconds) * 100).toFixed(1)),
        collectorRssMiB: cpuAfter.rssMiB,
      },
    };
    writeResult('collector.json', result);
    console.log(JSON.stringify(result, null, 2));
    await tail.close();
  } finally {
    registrar.close();
    zk.close();
    await mb.stop();
    await servers.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
