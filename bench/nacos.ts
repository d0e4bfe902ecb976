/**
 * Nacos collector benchmark: a real Nacos server (standalone, built from source by scripts/install.sh), Kafka and
 * Redis started by the harness; BENCH_SERVICES services × BENCH_INSTANCES ephemeral instances registered over
 * Nacos's gRPC API (one BatchInstanceRequest per service, as a client with several instances does); one real
 * `meshbridge collector` process (kind nacos, leader election on); then BENCH_RATE registry changes per second (an
 * instance added to a random service, or one added at least 5 s ago removed) for BENCH_SECONDS.
 *
 *   npm run bench:nacos     (BENCH_SERVICES=5000 BENCH_INSTANCES=10 BENCH_RATE=100 BENCH_SECONDS=60;
 *                            BENCH_PUSH_DELAY_MS sets Nacos's push delay, BENCH_OUT the results file name)
 *
 * Latency = Kafka's append time of the first event whose instance set reflects a change (broker-stamped,
 * LogAppendTime) minus the moment Nacos acknowledged the registration. Nacos then pushes the new instance list to the
 * collector's subscription. Also measured: the initial full resync (subscribe to every service), the cost of one
 * look at the service list (what `listIntervalMs` repeats), the collector's CPU while idle (only list polls) and
 * while churning, and its memory. Writes bench/results/nacos.json.
 */
import os from 'node:os';
import { makeRunDir } from '../harness/paths.ts';
import { startServers, pipeline } from '../harness/stack.ts';
import { startNacos } from '../harness/nacos.ts';
import { EventTail } from '../harness/event-tail.ts';
import { metricSum } from '../harness/prom-text.ts';
import { waitFor } from '../harness/wait.ts';
import { NacosConnection } from '../services/collector/nacos-grpc.ts';
import {
  createAppendTimeTopic,
  percentile,
  pool,
  procStats,
  writeResult,
  machineInfo,
  startCollectorFirstPass,
} from './support.ts';
import { addressSequence, KafkaArrivals, paced, providerChange } from './churn.ts';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 5000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const LIST_INTERVAL_MS = Number(process.env.BENCH_LIST_INTERVAL_MS ?? 2000);
/** Nacos's own delay before it pushes a change to subscribers (nacos.naming.push.pushTaskDelay, 500 ms by default). */
const PUSH_DELAY_MS =
  process.env.BENCH_PUSH_DELAY_MS === undefined ? undefined : Number(process.env.BENCH_PUSH_DELAY_MS);
const OUT = process.env.BENCH_OUT ?? 'nacos.json';
const PARTITIONS = 6;
const SOURCE = 'nacos-bench';

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const svc = (i: number) => `bench-svc-${i}`;

async function main(): Promise<void> {
  const runDir = makeRunDir('bench-nacos');
  log(`starting Nacos, ZooKeeper, Kafka, Redis in ${runDir}`);
  const [servers, nacos] = await Promise.all([
    startServers(runDir),
    startNacos(runDir, { heap: '1g', emptyServiceCleanMs: 600_000, pushTaskDelayMs: PUSH_DELAY_MS }),
  ]);
  const mb = await pipeline(servers, {
    sources: [{ id: SOURCE, kind: 'nacos', address: nacos.address, listIntervalMs: LIST_INTERVAL_MS }],
    kafka: { partitions: PARTITIONS },
  });
  const reg = new NacosConnection({ target: `127.0.0.1:${nacos.grpcPort}`, requestTimeoutMs: 60_000 });
  await reg.open();
  try {
    await createAppendTimeTopic(servers.kafka.brokers, mb.config.kafka.topic, PARTITIONS);

    const instances = new Map<number, string[]>();
    const nextIp = addressSequence();
    const batch = (i: number) =>
      reg.request('BatchInstanceRequest', {
        namespace: 'public',
        groupName: 'DEFAULT_GROUP',
        serviceName: svc(i),
        type: 'batchRegisterInstance',
        instances: instances.get(i)!.map((ip) => ({
          ip,
          port: 8080,
          weight: 1,
          healthy: true,
          enabled: true,
          ephemeral: true,
          clusterName: 'DEFAULT',
          serviceName: svc(i),
          metadata: { protocol: 'http' },
        })),
      });
    log(`registering ${SERVICES} services × ${INSTANCES} instances in Nacos (gRPC batch registration)`);
    const t0 = performance.now();
    await pool(
      Array.from({ length: SERVICES }, (_, i) => i),
      32,
      async (i) => {
        instances.set(i, Array.from({ length: INSTANCES }, nextIp));
        await batch(i);
      },
    );
    const registerSeconds = (performance.now() - t0) / 1000;
    log(`registered in ${registerSeconds.toFixed(1)} s`);

    // What one look at the service list costs (the collector repeats it every listIntervalMs): pages of 1000 names.
    const listMs: number[] = [];
    for (let k = 0; k < 10; k++) {
      const s = performance.now();
      let names = 0;
      for (let page = 1; ; page++) {
        const res = await reg.request('ServiceListRequest', {
          namespace: 'public',
          groupName: 'DEFAULT_GROUP',
          serviceName: '',
          pageNo: page,
          pageSize: 1000,
          selector: '',
        });
        const got = (res.serviceNames as string[]).length;
        names += got;
        if (got < 1000) break;
      }
      listMs.push(performance.now() - s);
      if (names !== SERVICES) throw new Error(`service list has ${names} names, expected ${SERVICES}`);
    }
    listMs.sort((a, b) => a - b);

    const tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
    const arrivals = new KafkaArrivals(tail);

    log('starting the collector (subscribes to every service)');
    const {
      proc,
      seconds: resyncSeconds,
      events: resyncEvents,
    } = await startCollectorFirstPass(mb, SOURCE, { timeoutMs: 900_000, intervalMs: 250 });
    const pid = proc.pid!;
    log(`resync: ${resyncEvents} events in ${resyncSeconds.toFixed(1)} s (process start included)`);
    await waitFor(() => tail.services(SOURCE).size >= SERVICES, {
      what: 'every service in Kafka',
      timeoutMs: 300_000,
      intervalMs: 250,
    });
    const afterResync = procStats(pid);

    // Idle: only the service-list polls run.
    const idleSeconds = 20;
    const idleBefore = procStats(pid).cpuSeconds;
    const listsBefore = await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_watch_events_total', {
      source: SOURCE,
      kind: 'service-list',
    });
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleCpu = (procStats(pid).cpuSeconds - idleBefore) / idleSeconds;
    const lists =
      (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_watch_events_total', {
        source: SOURCE,
        kind: 'service-list',
      })) - listsBefore;

    log(`churn: ${RATE} changes/s for ${SECONDS} s`);
    const cpuBefore = procStats(pid).cpuSeconds;
    const loadBefore = os.loadavg()[0]!;
    let changes = 0;
    const inflight: Promise<void>[] = [];
    const addedAt = new Map<string, number>();
    const startedAt = performance.now();
    await paced(RATE, RATE * SECONDS, () => {
      const i = Math.floor(Math.random() * SERVICES);
      const list = instances.get(i)!;
      // Only instances registered at least 5 s ago are removed: one added and removed within Nacos's push delay leaves
      // the service as it was, so no event shows either change and neither could be timed.
      providerChange(list, addedAt, INSTANCES, nextIp);
      const expected = [...list];
      // Issued without waiting for the previous one (a real registry sees independent clients); recorded at the ack.
      inflight.push(
        batch(i).then(() => {
          arrivals.expect(svc(i), expected);
          changes++;
        }),
      );
    });
    await Promise.all(inflight);
    const churnSeconds = (performance.now() - startedAt) / 1000;
    await arrivals.settle(60_000, log);
    const after = procStats(pid);
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        note: "shared 2-core machine; Nacos (JVM), Kafka, Redis, ZooKeeper and the collector on it, plus other engineers' processes",
      }),
      workload: {
        services: SERVICES,
        instancesPerService: INSTANCES,
        changesPerSecond: RATE,
        seconds: SECONDS,
        partitions: PARTITIONS,
        listIntervalMs: LIST_INTERVAL_MS,
        coalesceMs: 20,
        leaderElection: true,
        nacos: '3.1.0-SNAPSHOT standalone, embedded storage',
        nacosPushTaskDelayMs: PUSH_DELAY_MS ?? 500,
      },
      registration: { seconds: Number(registerSeconds.toFixed(1)) },
      serviceListLook: {
        pagesOf1000: Math.ceil(SERVICES / 1000),
        ms: { p50: Number(percentile(listMs, 50).toFixed(1)), max: Number(listMs[listMs.length - 1]!.toFixed(1)) },
      },
      idle: { seconds: idleSeconds, serviceListLooks: lists, collectorCpuPercent: Number((idleCpu * 100).toFixed(1)) },
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
        latencyMs: { fromNacosAck: arrivals.summary().fromAck },
        loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
        collectorCpuPercent: Number((((after.cpuSeconds - cpuBefore) / churnSeconds) * 100).toFixed(1)),
        collectorRssMiB: after.rssMiB,
      },
    };
    writeResult(OUT, result);
    console.log(JSON.stringify(result, null, 2));
    await tail.close();
  } finally {
    reg.close();
    await mb.stop();
    await nacos.stop();
    await servers.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
