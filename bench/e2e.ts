/**
 * End-to-end benchmark: a registry change (ZooKeeper, or Consul with BENCH_REGISTRY=consul) until a sidecar connected
 * to a real istiod receives it.
 *
 *   npm run bench:e2e     (BENCH_SERVICES=10000 BENCH_INSTANCES=10 BENCH_RATE=100 BENCH_SECONDS=60 BENCH_SHARDS=256)
 *
 * Real ZooKeeper, Kafka, Redis and istiod started by the harness; the three meshbridge roles as real processes.
 * BENCH_SERVICES Dubbo interfaces × BENCH_INSTANCES providers are registered as Dubbo does, then BENCH_RATE provider
 * changes per second (register a new provider or unregister one) on random interfaces for BENCH_SECONDS. A
 * sidecar-style ADS client on istiod's xDS port (delta xDS, as istio's sidecars speak by default; CDS, then EDS for
 * every meshbridge cluster, ACKing everything) timestamps when each change's endpoint appears or disappears.
 *
 * Each change is also followed through the stages, same host, same clock:
 *   collector  registry write -> Kafka append (topic with broker-stamped LogAppendTime)
 *   projector  Kafka append  -> Redis commit of a change record naming the service (stream entry time)
 *   gateway    Redis commit  -> first push of that version or later (gateway log)
 *   istiod ack push          -> istiod's ACK of that version or later (gateway log)
 *   sidecar    istiod ack    -> the sidecar's EDS response reflecting the change
 * Stage times are attributed by version; a stage that overlaps the next (istiod may push EDS before it ACKs MCP)
 * can be negative. Results: bench/results/e2e.json (BENCH_OUT to name another file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { makeRunDir, projectRoot } from '../harness/paths.ts';
import { startServers, pipeline, startIstiodFor } from '../harness/stack.ts';
import { cpuCalibration, describeCalibration, describePace, machinePace } from './cpu-calibration.ts';
import { ROLE_NODE_FLAGS } from '../harness/role-node-flags.ts';
import { ISTIOD_RECOMMENDED_ENV } from '../harness/istiod.ts';
import { EventTail } from '../harness/event-tail.ts';
import { waitFor } from '../harness/wait.ts';
import { shardOf } from '../services/xds-gateway/shard.ts';
import {
  DEFAULT_GATEWAY_DEBOUNCE_MS,
  DEFAULT_GATEWAY_SHARDS,
  DEFAULT_ISTIOD_BUFFER_PADDING,
} from '../services/shared/config.ts';
import { readLatestProfile, topFrames } from './cpuprofile-top.ts';
import {
  LogTail,
  VersionTimes,
  ChurnCpu,
  heapProfileIstiod,
  profileIstiod,
  summariseProfile,
  settleAtSidecar,
} from './istiod-watch.ts';
import { Sidecar, sidecarMode } from '../harness/sidecar-watch.ts';
import { createAppendTimeTopic, latencySummary, pool, procStats, writeResult, machineInfo } from './support.ts';
import { consulRegistry, zooKeeperRegistry, type BenchRegistry } from './e2e-registries.ts';
import { addressSequence, paced, providerChange } from './churn.ts';
import { istiodGcCycles, splitByIstiodGc, type GcCycle } from './istiod-gc.ts';
import { metricValue } from '../harness/prom-text.ts';
import { istiodEnvWarnings, parseIstiodEnv } from './istiod-env.ts';

/**
 * The registry written to: zookeeper (Dubbo providers, the default) or consul (catalog services). The Consul
 * collector holds one blocking query per service, so its default scale is 1,000 services.
 */
const REGISTRY = process.env.BENCH_REGISTRY === 'consul' ? 'consul' : 'zookeeper';
const SERVICES = Number(process.env.BENCH_SERVICES ?? (REGISTRY === 'consul' ? 1_000 : 10_000));
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const PARTITIONS = 6;
/**
 * istiod settings for the run over the harness's (ISTIOD_RECOMMENDED_ENV: EDS debounce off and GOGC=200, as
 * docs/operations.md recommends), e.g. BENCH_ISTIOD_ENV='PILOT_ENABLE_EDS_DEBOUNCE=true,PILOT_DEBOUNCE_AFTER=10ms'.
 */
const ISTIOD_ENV = parseIstiodEnv(process.env.BENCH_ISTIOD_ENV);
/**
 * istiod's environment over the harness's: the settings above, and one gctrace line per garbage collection (cheap;
 * at 50,000 services istiod's collections set the tail). Also recorded in the results, with the harness's own setting.
 */
const ISTIOD_RUN_ENV = { GODEBUG: 'gctrace=1', ...ISTIOD_ENV };
/** What istiod runs with (the harness's settings under this run's), and what in it does not do what it looks like. */
const ISTIOD_EFFECTIVE_ENV = { ...ISTIOD_RECOMMENDED_ENV, ...ISTIOD_RUN_ENV };
const ISTIOD_ENV_WARNINGS = istiodEnvWarnings(ISTIOD_EFFECTIVE_ENV);
/**
 * BENCH_ISTIOD_NICE=-5: istiod runs at this nice value (every thread; the rest of the stack stays at 0), so on a
 * contended machine it gets the CPU first — what a production istiod on CPUs of its own gets. Separates the latency
 * that meshbridge adds from the latency of sharing two cores with istiod's garbage collection. Needs root below 0.
 */
const ISTIOD_NICE = process.env.BENCH_ISTIOD_NICE === undefined ? undefined : Number(process.env.BENCH_ISTIOD_NICE);
if (ISTIOD_NICE !== undefined && !(Number.isInteger(ISTIOD_NICE) && ISTIOD_NICE >= -20 && ISTIOD_NICE <= 19))
  throw new Error(`BENCH_ISTIOD_NICE: '${process.env.BENCH_ISTIOD_NICE}' is not an integer from -20 to 19`);

/** Sets every thread of a process to one nice value (setpriority is per thread on Linux; new threads inherit it). */
function reniceThreads(pid: number, nice: number): number {
  const tids = fs.readdirSync(`/proc/${pid}/task`).map(Number);
  for (const tid of tids) os.setPriority(tid, nice);
  return tids.length;
}
const OUT = process.env.BENCH_OUT ?? (REGISTRY === 'consul' ? 'e2e-consul.json' : 'e2e.json');
/** Config sources the gateway splits the snapshot into (gateway.shards): istiod lists one per shard. */
const SHARDS = Number(process.env.BENCH_SHARDS ?? DEFAULT_GATEWAY_SHARDS);
/**
 * The collector's periodic full re-read interval (source resyncIntervalMs; default the product's 5 minutes).
 * BENCH_RESYNC_INTERVAL_MS=60000 puts a re-read inside every 60-second churn: the worst case, measured on purpose.
 */
const RESYNC_INTERVAL_MS = Number(process.env.BENCH_RESYNC_INTERVAL_MS ?? 0);
/** ZooKeeper sources' periodicResyncReadsPerSecond (default the product's); a huge value measures an unpaced re-read. */
const RESYNC_READS_PER_SECOND = Number(process.env.BENCH_RESYNC_READS_PER_SECOND ?? 0);
/**
 * A CPU profile of istiod over this many seconds of the churn (0: none): istiod's own account of where its time goes,
 * written next to the result as <OUT>.istiod.pprof and summarised (`go tool pprof -top`) as <OUT>.istiod-top.txt.
 */
const PROFILE_SECONDS = Number(process.env.BENCH_ISTIOD_PROFILE_SECONDS ?? 0);
/**
 * BENCH_ISTIOD_HEAP_PROFILE=1: istiod's heap profile right after the churn (what its live heap, which every garbage
 * collection marks, is made of), as <OUT>.istiod-heap.pprof and <OUT>.istiod-heap-top.txt (in-use bytes).
 */
const HEAP_PROFILE = process.env.BENCH_ISTIOD_HEAP_PROFILE === '1';
/**
 * BENCH_NODE_PROFILE=1: the collector, projector and gateway run under `node --cpu-prof`; their self time over the
 * churn is summarised in <OUT>.node-top.txt, so their share of the machine is explained, not only measured.
 */
const NODE_PROFILE = process.env.BENCH_NODE_PROFILE === '1';
const SIDECAR_MODE = sidecarMode();
/** kafka.compression for the run (the product's default when unset). */
const KAFKA_COMPRESSION = process.env.BENCH_KAFKA_COMPRESSION;

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

interface Change {
  host: string;
  address: string;
  kind: 'add' | 'remove';
  issuedAt: number;
  kafka?: number;
  redis?: number;
  version?: number;
  push?: number;
  ack?: number;
  sidecar?: number;
}

async function main(): Promise<void> {
  for (const w of ISTIOD_ENV_WARNINGS) log(`warning: ${w}`);
  // ZooKeeper's heap grows with the znodes it serves: the harness's 256 MiB ran out of memory (and ZooKeeper exited)
  // answering a getChildren during a 50,000 x 10 load. About 2 KiB per provider znode, unless set explicitly.
  process.env.MESHBRIDGE_ZOOKEEPER_HEAP ??= `${Math.max(256, Math.ceil((SERVICES * INSTANCES * 2) / 1024) + 128)}m`;
  // Before anything starts: how fast the cores are today (bench/cpu-calibration.ts).
  const calibration = await cpuCalibration();
  log(describeCalibration(calibration));
  const cpuModel = os.cpus()[0]?.model;
  const pace = machinePace(calibration, cpuModel);
  log(describePace(pace, cpuModel));
  if (pace.pace === 'slow')
    log(
      'this machine is slower than those the 10k target was met on every time: on such machines fewer runs meet ' +
        'p99 <= 250 ms (docs/benchmarks.md counts them per CPU model); compare this result with runs of the same pace only',
    );
  const runDir = makeRunDir('bench-e2e');
  log(`starting ZooKeeper, Kafka, Redis in ${runDir}`);
  const servers = await startServers(runDir, { istiod: true });
  const id = crypto.randomBytes(3).toString('hex');
  const registry: BenchRegistry =
    REGISTRY === 'consul' ? await consulRegistry(runDir, SERVICES) : await zooKeeperRegistry(servers, id);
  const hostOf = (i: number) => registry.host(i);
  const clusterOf = (host: string) => `outbound|${registry.port}||${host}`;
  const mb = await pipeline(servers, {
    sources: [
      {
        ...registry.source,
        ...(RESYNC_INTERVAL_MS ? { resyncIntervalMs: RESYNC_INTERVAL_MS } : {}),
        ...(RESYNC_READS_PER_SECOND && registry.kind === 'zookeeper'
          ? { periodicResyncReadsPerSecond: RESYNC_READS_PER_SECOND }
          : {}),
      },
    ],
    kafka: { partitions: PARTITIONS, ...(KAFKA_COMPRESSION ? { compression: KAFKA_COMPRESSION } : {}) },
    gateway: {
      // The product's default unless BENCH_GATEWAY_DEBOUNCE_MS says otherwise (every run on record used 20).
      ...(process.env.BENCH_GATEWAY_DEBOUNCE_MS ? { debounceMs: Number(process.env.BENCH_GATEWAY_DEBOUNCE_MS) } : {}),
      shards: SHARDS,
      // BENCH_GATEWAY_PADDING=0: istiod without its response buffer padded (the product's default is on).
      ...(process.env.BENCH_GATEWAY_PADDING ? { istiodBufferPadding: Number(process.env.BENCH_GATEWAY_PADDING) } : {}),
    },
  });
  const redis = new Redis(servers.redis.url);
  const stopFns: (() => unknown)[] = [];
  const roles = ['collector', 'projector', 'gateway'] as const;
  const profileDir = (role: string) => path.join(runDir, `cpu-prof-${role}`);
  const roleOpts = (role: string, level: string) => ({
    env: { MESHBRIDGE_LOG_LEVEL: level },
    nodeArgs: NODE_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(role)}`] : [],
  });
  let churnWall: { start: number; end: number } | undefined;
  let istiodGc: (fromMs: number, toMs: number) => GcCycle[] = () => [];
  try {
    await createAppendTimeTopic(servers.kafka.brokers, mb.config.kafka.topic, PARTITIONS);

    const collector = await mb.start('collector', roleOpts('collector', 'info'));
    const projector = await mb.start('projector', roleOpts('projector', 'info'));
    const gateway = await mb.start('gateway', roleOpts('gateway', 'debug'));
    // Start with an empty registry: the first resync is instant, the snapshot complete, istiod ready at once.
    await registry.prepare();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).ok, {
      what: 'gateway ready',
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    const istiodStartedAt = Date.now();
    const istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs, {
      readyTimeoutMs: 120_000,
      env: ISTIOD_RUN_ENV,
    });
    if (ISTIOD_NICE !== undefined)
      log(`istiod at nice ${ISTIOD_NICE} (${reniceThreads(istiod.proc.pid!, ISTIOD_NICE)} threads)`);
    istiodGc = (from, to) => istiodGcCycles(fs.readFileSync(istiod.proc.logFile, 'utf8'), istiodStartedAt, from, to);
    stopFns.push(() => istiod.stop());

    // Stage observers.
    const tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic, { observer: true });
    const commits = new Map<string, { at: number; v: number }[]>(); // host -> change records naming it
    const redisFollow = new Redis(servers.redis.url);
    let following = true;
    stopFns.push(() => {
      following = false;
      redisFollow.disconnect();
    });
    void (async () => {
      let last = '$';
      while (following) {
        const res = await redisFollow
          .xread('BLOCK', 1000, 'STREAMS', `{${mb.config.redis.prefix}}:changes`, last)
          .catch(() => null);
        if (!res) continue;
        for (const [entryId, fields] of res[0]![1]) {
          last = entryId;
          const f: Record<string, string> = {};
          for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
          const at = Number(entryId.split('-')[0]);
          for (const field of `${f.up ?? ''}\n${f.rm ?? ''}`.split('\n')) {
            if (!field) continue;
            const host = field.slice(field.lastIndexOf('/') + 1);
            const list = commits.get(host) ?? [];
            list.push({ at, v: Number(f.v) });
            commits.set(host, list);
          }
        }
      }
    })();
    // Per shard: a change is pushed on its own shard's stream only.
    const pushes = Array.from({ length: SHARDS }, () => new VersionTimes());
    const acks = Array.from({ length: SHARDS }, () => new VersionTimes());
    const gwLog = new LogTail(gateway.logFile, (rec) => {
      if (typeof rec.typeUrl !== 'string' || !rec.typeUrl.endsWith('/ServiceEntry')) return;
      const at = typeof rec.time === 'number' ? rec.time : Date.parse(String(rec.time));
      const shard = Number(rec.shard ?? 0);
      if (rec.msg === 'pushed') pushes[shard]?.add(Number(rec.version), at);
      else if (rec.msg === 'acked') acks[shard]?.add(Number(rec.version), at);
    });
    stopFns.push(() => gwLog.stop());

    const pending = new Map<string, Change[]>(); // cluster|address -> changes waiting for the sidecar
    const prefix = clusterOf(registry.hostPrefix);
    const sidecar = new Sidecar(`127.0.0.1:${istiod.grpcPort}`, SIDECAR_MODE, prefix, (cluster, added, removed, at) => {
      for (const [list, kind] of [
        [added, 'add'],
        [removed, 'remove'],
      ] as const) {
        for (const a of list) {
          const key = `${cluster}|${a}|${kind}`;
          const waiting = pending.get(key);
          if (!waiting?.length) continue;
          const c = waiting.shift()!;
          c.sidecar = at;
        }
      }
    });
    sidecar.start();
    stopFns.push(() => sidecar.close());

    // Initial load: every provider written as fast as ZooKeeper takes them, until the sidecar holds every endpoint.
    log(`registering ${SERVICES} services × ${INSTANCES} instances in ${REGISTRY}`);
    const providers = new Map<number, string[]>();
    const addedAt = new Map<string, number>(); // address -> when registered during the churn
    const nextIp = addressSequence();
    const loadStart = Date.now();
    const collectorCpu0 = procStats(collector.pid).cpuSeconds;
    await pool(
      Array.from({ length: SERVICES }, (_, i) => i),
      128,
      async (i) => {
        const list = Array.from({ length: INSTANCES }, nextIp);
        await registry.load(i, list);
        providers.set(i, list);
      },
    );
    const written = Date.now();
    log(`written in ${((written - loadStart) / 1000).toFixed(1)} s; waiting for the sidecar to hold every endpoint`);
    // A server or role that died fails the run now, not after the wait's 30 minutes.
    const alive = [...registry.procs, servers.kafka.proc, istiod.proc, collector, projector, gateway];
    await waitFor(
      () => {
        for (const p of alive) p.assertRunning();
        return sidecar.clusters.length >= SERVICES && sidecar.endpointCount >= SERVICES * INSTANCES;
      },
      {
        what: `sidecar holding ${SERVICES * INSTANCES} endpoints (has ${sidecar.endpointCount})`,
        timeoutMs: 1_800_000,
        intervalMs: 200,
      },
    );
    const loaded = Date.now();
    const load = {
      writeSeconds: (written - loadStart) / 1000,
      registryToSidecarSeconds: (loaded - loadStart) / 1000,
      afterLastWriteSeconds: (loaded - written) / 1000,
      collectorCpuSeconds: Number((procStats(collector.pid).cpuSeconds - collectorCpu0).toFixed(1)),
    };
    log(
      `istiod hands the sidecar all ${SERVICES * INSTANCES} endpoints ${load.afterLastWriteSeconds.toFixed(1)} s after the last write`,
    );

    // Churn.
    log(`churn: ${RATE} changes/s for ${SECONDS} s`);
    const pids = {
      collector: collector.pid,
      projector: projector.pid,
      gateway: gateway.pid,
      istiod: istiod.proc.pid,
      kafka: servers.kafka.proc.pid,
      zookeeper: servers.zookeeper.proc.pid,
      ...(registry.kind === 'consul' ? { consul: registry.procs[0]?.pid } : {}),
    };
    // Whether the collector's periodic re-read really ran through the churn (the re-read rows depend on it); read
    // before the CPU window opens.
    const resyncBefore = await collectorResync(mb.ports.collectorHttp);
    const churnCpu = new ChurnCpu(pids);
    const loadBefore = os.loadavg()[0]!;
    const cdsBefore = sidecar.cdsResponses;
    const edsBefore = sidecar.edsResponses;
    const changes: Change[] = [];
    const startedAt = performance.now();
    const startedWall = Date.now();
    const total = RATE * SECONDS;
    const inflight: Promise<void>[] = [];
    const pprofFile = path.join(projectRoot, 'bench', 'results', OUT.replace(/\.json$/, '.istiod.pprof'));
    const profile = PROFILE_SECONDS > 0 ? profileIstiod(istiod.monitoringPort, PROFILE_SECONDS, pprofFile) : undefined;
    await paced(RATE, total, () => {
      const i = Math.floor(Math.random() * SERVICES);
      const { address, remove } = providerChange(providers.get(i)!, addedAt, INSTANCES, nextIp);
      // Waiting before the write is issued: on a busy machine the sidecar can see the change before this process
      // runs the write's callback, and a change registered only then would never be matched. Latency counts from the
      // write's issue (its round trip included), so it is never flattered by a late callback.
      const c: Change = { host: hostOf(i), address, kind: remove ? 'remove' : 'add', issuedAt: Date.now() };
      changes.push(c);
      const key = `${clusterOf(c.host)}|${address}|${c.kind}`;
      const l = pending.get(key) ?? [];
      l.push(c);
      pending.set(key, l);
      const write = remove ? registry.remove(i, address) : registry.add(i, address);
      inflight.push(write.then(() => undefined));
    });
    await Promise.all(inflight);
    // CPU over the churn itself (not the wait for stragglers below).
    const churnSeconds = (performance.now() - startedAt) / 1000;
    churnWall = { start: startedWall, end: Date.now() };
    const { cpuPercent: cpu, machineBusyCores, machineStealPercent } = churnCpu.read(churnSeconds);
    const resyncAfter = await collectorResync(mb.ports.collectorHttp);
    const collectorResyncDuringChurn = {
      passesEnded: resyncAfter.passes - resyncBefore.passes,
      servicesStatted: resyncAfter.unchanged - resyncBefore.unchanged + resyncAfter.read - resyncBefore.read,
      servicesRead: resyncAfter.read - resyncBefore.read,
    };
    if (RESYNC_INTERVAL_MS) log(`collector re-read during the churn: ${JSON.stringify(collectorResyncDuringChurn)}`);
    const profiled = profile ? await profile : undefined;
    const { wrong, unreached } = await settleAtSidecar({
      changes,
      serviceOf: (c) => c.host,
      registry: providers,
      registryName: 'registry',
      sidecar,
      clusterOf: (i) => clusterOf(hostOf(i)),
      nameOf: hostOf,
      log,
    });
    const rss = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStats(p).rssMiB]));
    const loadAfter = os.loadavg()[0]!;
    gwLog.stop();

    // Attribute stages.
    // Indexed by host once: filtering every tailed event per change was 6,000 × 106,000 comparisons at 10,000
    // services (~4 s of CPU) and five times that at 50,000.
    const eventsByHost = new Map<string, typeof tail.events>();
    for (const e of tail.events) {
      const l = eventsByHost.get(e.event.host);
      if (l) l.push(e);
      else eventsByHost.set(e.event.host, [e]);
    }
    for (const c of changes) {
      const evs = (eventsByHost.get(c.host) ?? []).filter((e) => e.appendedAt >= c.issuedAt - 5);
      // The earliest append that reflects the change (the tail interleaves partitions in arrival order).
      let hit: (typeof evs)[number] | undefined;
      for (const e of evs) {
        if ((c.kind === 'add') !== e.event.instances.some((x) => x.address === c.address)) continue;
        if (!hit || e.appendedAt < hit.appendedAt) hit = e;
      }
      c.kafka = hit?.appendedAt;
      const commit = c.kafka === undefined ? undefined : (commits.get(c.host) ?? []).find((r) => r.at >= c.kafka! - 1);
      c.redis = commit?.at;
      c.version = commit?.v;
      const shard = shardOf(`${registry.namespace}/${c.host}`, SHARDS);
      if (c.version !== undefined) {
        c.push = pushes[shard]!.firstAtLeast(c.version);
        c.ack = acks[shard]!.firstAtLeast(c.version);
      }
    }
    const profileFiles = profiled ? await summariseProfile(profiled) : undefined;
    const heapFiles = HEAP_PROFILE
      ? await summariseProfile(
          await heapProfileIstiod(istiod.monitoringPort, pprofFile.replace(/\.istiod\.pprof$/, '.istiod-heap.pprof')),
        )
      : undefined;
    const measured = changes.filter((c) => c.sidecar !== undefined);
    const diff = (a: keyof Change, b: keyof Change) =>
      measured.filter((c) => c[a] !== undefined && c[b] !== undefined).map((c) => (c[b] as number) - (c[a] as number));
    const stages = {
      collector: latencySummary(diff('issuedAt', 'kafka')),
      projector: latencySummary(diff('kafka', 'redis')),
      gateway: latencySummary(diff('redis', 'push')),
      istiodAck: latencySummary(diff('push', 'ack')),
      istiodToSidecar: latencySummary(diff('ack', 'sidecar')),
    };
    const registryToSidecar = (cs: readonly Change[]) => latencySummary(cs.map((c) => c.sidecar! - c.issuedAt));
    const endToEnd = registryToSidecar(measured);
    const gcCycles = churnWall ? istiodGc(churnWall.start, churnWall.end) : [];
    const gcSplit = splitByIstiodGc(measured, gcCycles, churnWall?.start ?? 0, 250);
    const clear = registryToSidecar(gcSplit.clear);
    const during = registryToSidecar(gcSplit.duringGc);
    // The churn in 10-second windows: a tail spread over the run (steady contention) reads differently from one
    // window's stall (a garbage collection, a periodic re-read, a neighbour's burst).
    const windowed = (from: number) =>
      registryToSidecar(measured.filter((c) => c.issuedAt >= from && c.issuedAt < from + 10_000));
    const byWindow = churnWall
      ? Array.from({ length: Math.ceil((churnWall.end - churnWall.start) / 10_000) }, (_, w) => ({
          fromS: w * 10,
          ...windowed(churnWall!.start + w * 10_000),
        }))
      : [];
    const slowest = Object.entries(stages).sort(([, a], [, b]) => b.p50 - a.p50)[0]![0];
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        loadAverage: [Number(loadBefore.toFixed(2)), Number(loadAfter.toFixed(2))],
        cpuCalibration: calibration,
        pace,
      }),
      // node's flags per role: the image launcher's (harness/role-node-flags.ts) since session 14, none before.
      roleNodeFlags: ROLE_NODE_FLAGS,
      workload: {
        registry: REGISTRY,
        services: SERVICES,
        instancesPerService: INSTANCES,
        changesPerSecond: RATE,
        seconds: SECONDS,
        partitions: PARTITIONS,
        shards: SHARDS,
        istiodEnv: ISTIOD_EFFECTIVE_ENV,
        istiodEnvWarnings: ISTIOD_ENV_WARNINGS,
        ...(ISTIOD_NICE !== undefined ? { istiodNice: ISTIOD_NICE } : {}),
        gatewayDebounceMs: mb.config.gateway.debounceMs ?? DEFAULT_GATEWAY_DEBOUNCE_MS,
        gatewayIstiodBufferPadding: mb.config.gateway.istiodBufferPadding ?? DEFAULT_ISTIOD_BUFFER_PADDING,
        collectorResync: {
          intervalMs: mb.config.sources[0]?.resyncIntervalMs,
          periodicReadsPerSecond: (mb.config.sources[0] as { periodicResyncReadsPerSecond?: number } | undefined)
            ?.periodicResyncReadsPerSecond,
        },
        kafkaCompression: mb.config.kafka.compression,
        sidecarXds: SIDECAR_MODE,
      },
      load,
      churn: {
        changes: changes.length,
        achievedRate: Number((changes.length / churnSeconds).toFixed(1)),
        reachedSidecar: measured.length,
        // The rest: pairs istiod folded into one push (an add and a removal of one provider), or lost.
        unreached,
        finalStateWrongServices: wrong.length,
        registryToSidecarMs: endToEnd,
        // The name earlier results (ZooKeeper only) used for the same figure.
        ...(REGISTRY === 'zookeeper' ? { zooKeeperToSidecarMs: endToEnd } : {}),
        stagesMs: stages,
        slowestStageByMedian: slowest,
        registryToSidecarByTenSecondsMs: byWindow,
        // The registry server's own heavy work during the churn (ZooKeeper's snapshots): CPU taken from every stage.
        registryPausesDuringChurn: churnWall ? registry.pauses(churnWall.start, churnWall.end) : [],
        // istiod's garbage collections whose mark overlapped the churn (its gctrace): the other pause in the tail.
        istiodGcDuringChurn: gcCycles,
        // The changes whose first 250 ms (the p99 target) overlapped none of those collections, and the others: how
        // much of the tail is istiod's collections, per run (bench/istiod-gc.ts).
        registryToSidecarClearOfIstiodGcMs: clear,
        registryToSidecarDuringIstiodGcMs: during,
        collectorResyncDuringChurn,
        // Endpoint-only changes should stay on istiod's incremental EDS path: CDS pushes during the churn mean a
        // service-level field changed (or istiod chose a full push).
        sidecarResponsesDuringChurn: { eds: sidecar.edsResponses - edsBefore, cds: sidecar.cdsResponses - cdsBefore },
        cpuPercent: cpu,
        machineBusyCores,
        machineStealPercent,
        rssMiB: rss,
      },
      ...(profileFiles ? { istiodProfile: profileFiles } : {}),
      ...(heapFiles ? { istiodHeapProfile: heapFiles } : {}),
      target: 'registry write -> sidecar EDS: p50 <= 100 ms, p99 <= 250 ms at 10,000 x 10 and 100 changes/s',
    };
    const out = writeResult(OUT, result);
    log(
      `end to end p50 ${endToEnd.p50} ms, p90 ${endToEnd.p90}, p99 ${endToEnd.p99}, max ${endToEnd.max} (n=${endToEnd.n}); slowest stage: ${slowest}`,
    );
    log(
      `istiod collected ${gcCycles.length} times in the churn; changes clear of those collections: p50 ${clear.p50} ms, ` +
        `p99 ${clear.p99} (n=${clear.n}); changes meeting one: p50 ${during.p50}, p99 ${during.p99} (n=${during.n})`,
    );
    log(
      `stages p50 (ms): ${Object.entries(stages)
        .map(([k, v]) => `${k} ${v.p50}`)
        .join(', ')}`,
    );
    log(
      `machine during the churn: ${machineBusyCores} of ${os.cpus().length} cores busy, ${machineStealPercent}% stolen; ` +
        describePace(pace, cpuModel),
    );
    log(`wrote ${out}`);
    await tail.close();
  } finally {
    for (const f of stopFns.reverse()) await Promise.resolve(f()).catch(() => undefined);
    await registry.close();
    redis.disconnect();
    await mb.stop();
    const stoppedAt = Date.now();
    await servers.stop();
    if (NODE_PROFILE && churnWall) writeNodeProfiles(roles, profileDir, stoppedAt, churnWall);
    // A 50,000-service run leaves ~5 GB of Kafka and ZooKeeper data behind, and a few runs filled this machine's disk
    // (ZooKeeper then failed its writes mid-run). The logs stay for reading; BENCH_KEEP_DATA=1 keeps the data too.
    // (The Consul variant's agent keeps its state in memory.)
    if (process.env.BENCH_KEEP_DATA !== '1') {
      for (const d of [servers.kafka.dataDir, servers.zookeeper.dataDir])
        fs.rmSync(d, { recursive: true, force: true });
    }
  }
}

/** The collector's periodic re-read counters, from one read of its /metrics: passes ended and services, by how. */
async function collectorResync(port: number): Promise<{ passes: number; read: number; unchanged: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return {
    passes: metricValue(text, 'meshbridge_collector_resyncs_total'),
    read: metricValue(text, 'meshbridge_collector_resync_keys_total', { how: 'read' }),
    unchanged: metricValue(text, 'meshbridge_collector_resync_keys_total', { how: 'unchanged' }),
  };
}

/** Each role's self time over the churn, from the profile it wrote on exit (its last sample is about `stoppedAt`). */
function writeNodeProfiles(
  roles: readonly string[],
  dir: (role: string) => string,
  stoppedAt: number,
  churn: { start: number; end: number },
): void {
  const parts: string[] = [];
  for (const role of roles) {
    const profile = readLatestProfile(dir(role));
    if (!profile) {
      parts.push(`# ${role}: no profile written (did it exit cleanly?)\n`);
      continue;
    }
    const rows = topFrames(profile, stoppedAt - churn.start, stoppedAt - churn.end, 30);
    parts.push(
      `# ${role}: self time over the churn\n${rows.map((r) => `${String(r.ms).padStart(7)} ms ${String(r.percent).padStart(5)}%  ${r.frame}`).join('\n')}\n`,
    );
  }
  const out = path.join(projectRoot, 'bench', 'results', OUT.replace(/\.json$/, '.node-top.txt'));
  fs.writeFileSync(out, parts.join('\n'));
  log(`wrote ${out}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:e2e failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
