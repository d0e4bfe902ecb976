/**
 * Eureka collector benchmark: a real Eureka server (harness/eureka.ts), Kafka and Redis started by the harness;
 * BENCH_APPS apps × BENCH_INSTANCES instances registered through Eureka's REST API as Eureka clients do; one real
 * `meshbridge collector` process (leader election on, as in production) reading the delta every BENCH_REFRESH_MS;
 * then BENCH_RATE registry changes per second (an instance registers, or one registered at least 5 s ago cancels, on a
 * random app) for BENCH_SECONDS.
 *
 *   npm run bench:eureka   (BENCH_APPS=5000 BENCH_INSTANCES=10 BENCH_RATE=100 BENCH_SECONDS=60 BENCH_REFRESH_MS=1000)
 *
 * Latency = Kafka's append time of the first event whose instance set reflects a change (the topic uses
 * message.timestamp.type=LogAppendTime) minus the moment Eureka acknowledged the change (HTTP 204). Same host, same
 * clock. With a delta read every BENCH_REFRESH_MS, a change waits for the next read: about half the interval on
 * average and up to one whole interval. Writes bench/results/eureka.json.
 */
import os from 'node:os';
import { EventTail } from '../harness/event-tail.ts';
import { startEureka } from '../harness/eureka.ts';
import { EurekaRegistrar } from '../harness/eureka-registrar.ts';
import { makeRunDir } from '../harness/paths.ts';
import { metricSum } from '../harness/prom-text.ts';
import { pipeline, startAllOrNone, startServers } from '../harness/stack.ts';
import { waitFor } from '../harness/wait.ts';
import {
  createAppendTimeTopic,
  pool,
  procStats,
  writeResult,
  machineInfo,
  startCollectorFirstPass,
} from './support.ts';
import { addressSequence, KafkaArrivals, paced, providerChange } from './churn.ts';

const APPS = Number(process.env.BENCH_APPS ?? 5000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const REFRESH_MS = Number(process.env.BENCH_REFRESH_MS ?? 1000);
const PARTITIONS = 6;
const SOURCE = 'eureka-bench';
/**
 * The server's delta holds every change of its retention window (Eureka's default: 3 min, for clients that read every
 * 30 s). At 100 changes/s that is 18,000 instances per delta; the collector reads every second, so 30 s is plenty.
 */
const SERVER_ARGS = [
  '--eureka.server.retention-time-in-m-s-in-delta-queue=30000',
  '--eureka.server.delta-retention-timer-interval-in-ms=5000',
];

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const appName = (i: number) => `BENCH-APP-${i}`;
const hostOf = (i: number) => `bench-app-${i}`;

async function main(): Promise<void> {
  const runDir = makeRunDir('bench-eureka');
  log(`starting Eureka, Kafka, Redis in ${runDir}`);
  const [servers, eureka] = await startAllOrNone([
    startServers(runDir),
    startEureka(runDir, { heap: '1536m', args: SERVER_ARGS }),
  ] as const);
  const mb = await pipeline(servers, {
    sources: [{ id: SOURCE, kind: 'eureka', serviceUrls: eureka.urls, refreshIntervalMs: REFRESH_MS }],
    kafka: { partitions: PARTITIONS },
  });
  const reg = new EurekaRegistrar(eureka.urls[0]!);
  try {
    await createAppendTimeTopic(servers.kafka.brokers, mb.config.kafka.topic, PARTITIONS);

    log(`registering ${APPS} apps × ${INSTANCES} instances through Eureka's REST API`);
    const t0 = performance.now();
    const instances = new Map<number, string[]>(); // app -> instance ids (= "ip")
    const nextIp = addressSequence();
    const all: [number, string][] = [];
    for (let i = 0; i < APPS; i++) {
      const list: string[] = [];
      for (let k = 0; k < INSTANCES; k++) {
        const ip = nextIp();
        list.push(ip);
        all.push([i, ip]);
      }
      instances.set(i, list);
    }
    await pool(all, 32, ([i, ip]) =>
      reg.register({ app: appName(i), id: ip, ip, port: 8080, metadata: { version: 'v1' } }),
    );
    log(`registered ${all.length} instances in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
    const arrivals = new KafkaArrivals(tail);

    log('starting the collector (full fetch of the whole registry)');
    const {
      proc,
      seconds: resyncSeconds,
      events: resyncEvents,
    } = await startCollectorFirstPass(mb, SOURCE, { timeoutMs: 600_000, intervalMs: 200 });
    const pid = proc.pid!;
    log(`full fetch: ${resyncEvents} events in ${resyncSeconds.toFixed(1)} s (process start included)`);
    await waitFor(() => tail.services(SOURCE).size >= APPS, {
      what: 'every app in Kafka',
      timeoutMs: 300_000,
      intervalMs: 200,
    });
    const afterResync = procStats(pid);
    const deltasBefore = await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_watch_events_total', {
      source: SOURCE,
    });

    log(`churn: ${RATE} changes/s for ${SECONDS} s`);
    const startedAt = performance.now();
    const cpuBefore = procStats(pid).cpuSeconds;
    const loadBefore = os.loadavg()[0]!;
    let changes = 0;
    const inFlight: Promise<void>[] = [];
    const chains = new Map<number, Promise<void>>();
    const addedAt = new Map<string, number>();
    const { lateStarts } = await paced(RATE, RATE * SECONDS, async () => {
      const i = Math.floor(Math.random() * APPS);
      const list = instances.get(i)!;
      // Changes to one app run one after another: the expected set of each is then exactly the registry's.
      const change = async () => {
        // Only instances registered at least 5 s ago are cancelled: one registered and cancelled between two delta
        // reads leaves the app as it was, so no event shows either change and neither could be timed.
        const { address: ip, remove } = providerChange(list, addedAt, INSTANCES, nextIp);
        if (remove) await reg.cancel(appName(i), ip);
        else await reg.register({ app: appName(i), id: ip, ip, port: 8080, metadata: { version: 'v1' } });
        arrivals.expect(hostOf(i), list);
        changes++;
      };
      const next = (chains.get(i) ?? Promise.resolve()).then(change);
      chains.set(i, next);
      inFlight.push(next);
      if (inFlight.length > 64) await inFlight.shift();
    });
    await Promise.all(inFlight);
    const churnSeconds = (performance.now() - startedAt) / 1000;
    await arrivals.settle(30_000, log);
    const after = procStats(pid);
    // What is still unresolved, and whether Eureka's own answers have it: the delta and the listing it serves now.
    const churnEnd = Date.now();
    const stuck = arrivals.waiting().map((p) => ({
      host: p.host,
      secondsBeforeEnd: Number(((churnEnd - p.at) / 1000).toFixed(1)),
      expected: p.set,
    }));
    const read = async (p: string) =>
      (await (await fetch(`${eureka.urls[0]}${p}`, { headers: { accept: 'application/json' } })).json()) as {
        applications: { apps__hashcode: string; application: { name: string; instance: { ipAddr: string }[] }[] };
      };
    const [listing, delta] = [await read('/apps'), await read('/apps/delta')];
    const servedSet = (host: string) =>
      listing.applications.application
        .find((a) => a.name.toLowerCase() === host)
        ?.instance.map((x) => x.ipAddr)
        .sort()
        .join(',');
    if (stuck.length > 0) log(`unresolved changes (first 5): ${JSON.stringify(stuck.slice(0, 5))}`);
    const unresolved = {
      count: stuck.length,
      inEurekaListingNow: stuck.filter((x) => servedSet(x.host) === x.expected).length,
      youngestSecondsAgo: stuck.length ? Math.min(...stuck.map((x) => x.secondsBeforeEnd)) : null,
      oldestSecondsAgo: stuck.length ? Math.max(...stuck.map((x) => x.secondsBeforeEnd)) : null,
      eurekaHashcodes: { listing: listing.applications.apps__hashcode, delta: delta.applications.apps__hashcode },
    };
    const fullFetches = await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', {
      source: SOURCE,
    });
    const deltas =
      (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_watch_events_total', { source: SOURCE })) -
      deltasBefore;
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        note: "shared 2-core machine; other engineers' processes compete for CPU",
      }),
      workload: {
        apps: APPS,
        instancesPerApp: INSTANCES,
        instances: APPS * INSTANCES,
        changesPerSecond: RATE,
        seconds: SECONDS,
        refreshIntervalMs: REFRESH_MS,
        partitions: PARTITIONS,
        leaderElection: true,
        eurekaServer: SERVER_ARGS,
      },
      initialFullFetch: {
        seconds: Number(resyncSeconds.toFixed(2)),
        events: resyncEvents,
        collectorRssMiB: afterResync.rssMiB,
      },
      churn: {
        changes,
        achievedRate: Number((changes / churnSeconds).toFixed(1)),
        lateStarts,
        measured: arrivals.latencies.length,
        unresolved,
        latencyMs: { fromEurekaAck: arrivals.summary().fromAck },
        deltaReads: deltas,
        fullFetchesTotal: fullFetches,
        loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
        collectorCpuPercent: Number((((after.cpuSeconds - cpuBefore) / churnSeconds) * 100).toFixed(1)),
        collectorRssMiB: after.rssMiB,
      },
    };
    writeResult('eureka.json', result);
    console.log(JSON.stringify(result, null, 2));
    await tail.close();
  } finally {
    await mb.stop();
    await eureka.stop();
    await servers.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
