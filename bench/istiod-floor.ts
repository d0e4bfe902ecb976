/**
 * istiod's own latency floor: bench:e2e's workload with meshbridge's pipeline replaced by the minimal go-control-plane
 * config source of bench/reference/, so only istiod (and a small driver) runs on the machine.
 *
 *   npm run bench:istiod-floor   (BENCH_SERVICES=10000 BENCH_INSTANCES=10 BENCH_RATE=100 BENCH_SECONDS=60
 *                                 BENCH_SHARDS=256 BENCH_ISTIOD_ENV= BENCH_ISTIOD_PROFILE_SECONDS=0 BENCH_OUT=…)
 *
 * The reference serves BENCH_SERVICES ServiceEntries of BENCH_INSTANCES Dubbo providers each, built by meshbridge's
 * own code (the collector's normaliseDubboService over the provider URLs bench:e2e registers, the projector's
 * buildServiceEntry and encodeServiceEntryAny): the bytes meshbridge serves for that registry. They are split over
 * BENCH_SHARDS config sources exactly as the gateway splits them (FNV-1a of "namespace/name"). istiod is started by the
 * harness with bench:e2e's settings; a sidecar-style ADS client (CDS, then EDS for every cluster) follows it.
 *
 * Load: istiod start -> the sidecar holds every endpoint. Churn: BENCH_RATE changes per second for BENCH_SECONDS, each
 * adding or removing one provider of a random service (as bench:e2e), sent to the reference as the service's new
 * ServiceEntry by HTTP POST, which rebuilds only that shard's snapshot. Timed: POST sent -> the sidecar's EDS response
 * reflecting it; and its stages, from the reference's push/ACK log (-events), attributed by the shard's version:
 *   source   POST sent -> the reference pushes that version (or later) to istiod
 *   istiodAck push    -> istiod's ACK of it
 *   sidecar  ACK      -> the sidecar's EDS response
 * Results: bench/results/istiod-floor-<N/1000>k-k<K>.json unless BENCH_OUT names another file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureInstalled } from '../harness/install.ts';
import { ISTIOD_RECOMMENDED_ENV, startIstiod } from '../harness/istiod.ts';
import { ManagedProcess } from '../harness/process.ts';
import { makeRunDir, projectRoot } from '../harness/paths.ts';
import { waitFor } from '../harness/wait.ts';
import { DubboRegistrar } from '../harness/dubbo-registrar.ts';
import { normaliseDubboService, type DubboNormaliseConfig } from '../services/collector/normalise-dubbo.ts';
import { buildServiceEntry } from '../projection/build-service-entry.ts';
import { encodeServiceEntryAny } from '../schemas/service-entry/encode.ts';
import { splitByPort, type PublishedEntry } from '../projection/split-ports.ts';
import { resourceField } from '../snapshot-store/resource-field.ts';
import { shardOf } from '../services/xds-gateway/shard.ts';
import { referenceBinary, resourceRecord } from './reference-binary.ts';
import { LogTail, VersionTimes, ChurnCpu, profileIstiod, settleAtSidecar, summariseProfile } from './istiod-watch.ts';
import { Sidecar, sidecarMode } from '../harness/sidecar-watch.ts';
import { latencySummary, procStats, writeResult, machineInfo } from './support.ts';
import { addressSequence, paced, providerChange } from './churn.ts';
import { istiodEnvWarnings, parseIstiodEnv } from './istiod-env.ts';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 256);
/** istiod settings over the harness's, as bench:e2e takes them: 'PILOT_ENABLE_EDS_DEBOUNCE=true,…'. */
const ISTIOD_ENV = parseIstiodEnv(process.env.BENCH_ISTIOD_ENV);
/** What istiod runs with (the harness's settings under this run's), and what in it does not do what it looks like. */
const ISTIOD_EFFECTIVE_ENV = { ...ISTIOD_RECOMMENDED_ENV, ...ISTIOD_ENV };
const ISTIOD_ENV_WARNINGS = istiodEnvWarnings(ISTIOD_EFFECTIVE_ENV);
const OUT = process.env.BENCH_OUT ?? `istiod-floor-${SERVICES / 1000}k-k${SHARDS}.json`;
/** istiod's CPU profile over this many seconds of the churn (0: none), as bench:e2e's knob of the same name. */
const PROFILE_SECONDS = Number(process.env.BENCH_ISTIOD_PROFILE_SECONDS ?? 0);
const PORT = 20880;
/** The source bench:e2e configures; its id is in every endpoint label and the sources annotation. */
const SOURCE: DubboNormaliseConfig = {
  id: 'zk-bench',
  namespace: 'dubbo',
  includeDisabled: false,
  includeZeroWeight: false,
  allowLoopback: false,
};

const log = (m: string) => process.stderr.write(`[floor ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const iface = (i: number) => `org.bench.Service${i}`;
const hostOf = (i: number) => `org.bench.service${i}`;
const clusterOf = (host: string) => `outbound|${PORT}||${host}`;

/** The ServiceEntry meshbridge serves for interface i with these providers: [resource name, Any bytes]. */
function serviceEntryOf(i: number, ips: string[], createTimeMs: number): [string, Buffer] {
  const children = ips.map((ip) => DubboRegistrar.providerUrl(iface(i), ip, PORT));
  const state = normaliseDubboService(SOURCE, iface(i), children);
  if (state.issues.length > 0) throw new Error(`${iface(i)}: ${JSON.stringify(state.issues)}`);
  const built = buildServiceEntry({
    namespace: state.namespace,
    host: state.host,
    createTimeMs,
    sources: {
      [SOURCE.id]: {
        sourceKind: 'zookeeper-dubbo',
        registryService: state.registryService,
        ports: state.ports,
        instances: state.instances,
        orderToken: null,
        epoch: 1,
        eventId: '',
        observedAt: createTimeMs,
      },
    },
  });
  if (!built.ok) throw new Error(`${iface(i)}: ${built.error.join('; ')}`);
  // One port, every provider serving it: published whole, as the projector would.
  const [{ meta, body }] = splitByPort(built.value, false) as [PublishedEntry];
  return [resourceField('ServiceEntry', meta.name), encodeServiceEntryAny(meta, body)];
}

interface Change {
  i: number;
  address: string;
  kind: 'add' | 'remove';
  issuedAt: number;
  answeredAt?: number;
  version?: number;
  push?: number;
  ack?: number;
  sidecar?: number;
}

/** Reads the reference's "listening grpc=p1,p2,… http=p" line from its log. */
async function referencePorts(proc: ManagedProcess): Promise<{ grpc: number[]; http: number }> {
  let found: { grpc: number[]; http: number } | undefined;
  await waitFor(
    () => {
      proc.assertRunning();
      const m = /listening grpc=([\d,]+) http=(\d+)/.exec(fs.readFileSync(proc.logFile, 'utf8'));
      if (m) found = { grpc: m[1]!.split(',').map(Number), http: Number(m[2]) };
      return found !== undefined;
    },
    { what: `reference listening (log ${proc.logFile})`, timeoutMs: 600_000, intervalMs: 100 },
  );
  return found!;
}

async function main(): Promise<void> {
  for (const w of ISTIOD_ENV_WARNINGS) log(`warning: ${w}`);
  ensureInstalled(['istiod']);
  const runDir = makeRunDir('bench-istiod-floor');
  const bin = await referenceBinary();

  // The registry: SERVICES interfaces × INSTANCES providers, addresses allotted as bench:e2e does.
  const nextIp = addressSequence();
  const createTimeMs = Date.now();
  const providers = new Map<number, string[]>();
  const file = path.join(runDir, 'resources.bin');
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  for (let i = 0; i < SERVICES; i++) {
    const list = Array.from({ length: INSTANCES }, nextIp);
    providers.set(i, list);
    const [name, any] = serviceEntryOf(i, list, createTimeMs);
    bytes += any.length;
    fs.writeSync(fd, resourceRecord(name, any));
  }
  fs.closeSync(fd);
  log(`${SERVICES} ServiceEntries × ${INSTANCES} endpoints (${(bytes / 1048576).toFixed(1)} MiB) in ${SHARDS} shards`);

  const ref = new ManagedProcess({
    name: 'reference',
    command: bin,
    args: ['-resources', file, '-shards', String(SHARDS), '-events'],
    logDir: runDir,
  });
  const stopFns: (() => unknown)[] = [() => ref.stop()];
  try {
    const ports = await referencePorts(ref);
    const post = async (name: string, any: Buffer): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${ports.http}/resource?name=${encodeURIComponent(name)}`, {
        method: 'POST',
        body: new Uint8Array(any),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`reference POST ${name}: HTTP ${res.status} ${text}`);
      return Number(text);
    };

    // Push and ACK times per shard, from the reference's -events lines.
    const pushes = Array.from({ length: SHARDS }, () => new VersionTimes());
    const acks = Array.from({ length: SHARDS }, () => new VersionTimes());
    const events = new LogTail(ref.logFile, (rec) => {
      const k = Number(rec.shard);
      if (rec.ev === 'push') pushes[k]?.add(Number(rec.version), Number(rec.t));
      else if (rec.ev === 'ack') acks[k]?.add(Number(rec.version), Number(rec.t));
    });
    stopFns.push(() => events.stop());

    // Load: istiod reads all N from its config sources, then hands every endpoint to the sidecar.
    log(`starting istiod on ${SHARDS} config sources`);
    const loadStart = Date.now();
    const istiod = await startIstiod(
      runDir,
      ports.grpc.map((p) => `xds://127.0.0.1:${p}`),
      { readyTimeoutMs: 1_800_000, env: ISTIOD_ENV },
    );
    stopFns.push(() => istiod.stop());
    const ready = Date.now();
    log(`istiod ready in ${((ready - loadStart) / 1000).toFixed(1)} s; waiting for the sidecar to hold every endpoint`);

    const pending = new Map<string, Change[]>(); // cluster|address|kind -> changes waiting for the sidecar
    const sidecar = new Sidecar(
      `127.0.0.1:${istiod.grpcPort}`,
      sidecarMode(),
      `outbound|${PORT}||org.bench.`,
      (c, a, r, at) => {
        for (const [list, kind] of [
          [a, 'add'],
          [r, 'remove'],
        ] as const) {
          for (const address of list) {
            const waiting = pending.get(`${c}|${address}|${kind}`);
            if (!waiting?.length) continue;
            const ch = waiting.shift()!;
            ch.sidecar = at;
          }
        }
      },
    );
    sidecar.start();
    stopFns.push(() => sidecar.close());
    await waitFor(() => sidecar.clusters.length >= SERVICES && sidecar.endpointCount >= SERVICES * INSTANCES, {
      what: `sidecar holding ${SERVICES * INSTANCES} endpoints`,
      timeoutMs: 1_800_000,
      intervalMs: 200,
    });
    const loaded = Date.now();
    const load = {
      istiodStartToReadySeconds: (ready - loadStart) / 1000,
      istiodStartToSidecarSeconds: (loaded - loadStart) / 1000,
      istiodRssMiB: procStats(istiod.proc.pid).rssMiB,
    };
    log(
      `the sidecar holds all ${SERVICES * INSTANCES} endpoints ` +
        `${load.istiodStartToSidecarSeconds} s after istiod start`,
    );

    // Churn.
    log(`churn: ${RATE} changes/s for ${SECONDS} s`);
    const pids = { istiod: istiod.proc.pid, reference: ref.pid };
    const churnCpu = new ChurnCpu(pids);
    const loadBefore = os.loadavg()[0]!;
    const cdsBefore = sidecar.cdsResponses;
    const edsBefore = sidecar.edsResponses;
    const changes: Change[] = [];
    const addedAt = new Map<string, number>();
    const inflight: Promise<void>[] = [];
    const pprofFile = path.resolve(projectRoot, 'bench', 'results', OUT.replace(/\.json$/, '.istiod.pprof'));
    const profile = PROFILE_SECONDS > 0 ? profileIstiod(istiod.monitoringPort, PROFILE_SECONDS, pprofFile) : undefined;
    const startedAt = performance.now();
    const total = RATE * SECONDS;
    await paced(RATE, total, () => {
      const i = Math.floor(Math.random() * SERVICES);
      const list = providers.get(i)!;
      const { address, remove } = providerChange(list, addedAt, INSTANCES, nextIp);
      const [name, any] = serviceEntryOf(i, list, createTimeMs);
      const c: Change = { i, address, kind: remove ? 'remove' : 'add', issuedAt: Date.now() };
      changes.push(c);
      const key = `${clusterOf(hostOf(i))}|${address}|${c.kind}`;
      pending.set(key, [...(pending.get(key) ?? []), c]);
      inflight.push(
        post(name, any).then((v) => {
          c.version = v;
          c.answeredAt = Date.now();
        }),
      );
    });
    await Promise.all(inflight);
    const churnSeconds = (performance.now() - startedAt) / 1000;
    const { cpuPercent: cpu, machineBusyCores } = churnCpu.read(churnSeconds);
    const profiled = profile ? await profile : undefined;
    const { wrong, unreached } = await settleAtSidecar({
      changes,
      serviceOf: (c) => hostOf(c.i),
      registry: providers,
      registryName: 'source',
      sidecar,
      clusterOf: (i) => clusterOf(hostOf(i)),
      nameOf: hostOf,
      log,
    });
    const rss = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStats(p).rssMiB]));
    const loadAfter = os.loadavg()[0]!;
    events.stop();

    for (const c of changes) {
      if (c.version === undefined) continue;
      const shard = shardOf(`dubbo/${hostOf(c.i)}`, SHARDS);
      c.push = pushes[shard]!.firstAtLeast(c.version);
      c.ack = acks[shard]!.firstAtLeast(c.version);
    }
    const profileFiles = profiled ? await summariseProfile(profiled) : undefined;
    const measured = changes.filter((c) => c.sidecar !== undefined);
    const diff = (a: keyof Change, b: keyof Change) =>
      measured.filter((c) => c[a] !== undefined && c[b] !== undefined).map((c) => (c[b] as number) - (c[a] as number));
    const stages = {
      source: latencySummary(diff('issuedAt', 'push')),
      istiodAck: latencySummary(diff('push', 'ack')),
      istiodToSidecar: latencySummary(diff('ack', 'sidecar')),
    };
    const endToEnd = latencySummary(measured.map((c) => c.sidecar! - c.issuedAt));
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        loadAverage: [Number(loadBefore.toFixed(2)), Number(loadAfter.toFixed(2))],
      }),
      workload: {
        services: SERVICES,
        instancesPerService: INSTANCES,
        changesPerSecond: RATE,
        seconds: SECONDS,
        shards: SHARDS,
        istiodEnv: ISTIOD_EFFECTIVE_ENV,
        istiodEnvWarnings: ISTIOD_ENV_WARNINGS,
        sidecarXds: sidecarMode(),
        configSource: 'bench/reference (go-control-plane SotW snapshot cache per shard), changes by HTTP POST',
        resourceMiB: Number((bytes / 1048576).toFixed(1)),
      },
      load,
      churn: {
        changes: changes.length,
        achievedRate: Number((changes.length / churnSeconds).toFixed(1)),
        reachedSidecar: measured.length,
        // The rest: pairs istiod folded into one push (an add and a removal of one provider), or lost.
        unreached,
        finalStateWrongServices: wrong.length,
        postToSidecarMs: endToEnd,
        stagesMs: stages,
        sidecarResponsesDuringChurn: { eds: sidecar.edsResponses - edsBefore, cds: sidecar.cdsResponses - cdsBefore },
        cpuPercent: cpu,
        machineBusyCores,
        rssMiB: rss,
      },
      ...(profileFiles ? { istiodProfile: profileFiles } : {}),
      note:
        'istiod alone: the config source is a go-control-plane snapshot cache fed by HTTP POST, no ZooKeeper, Kafka, ' +
        'Redis or meshbridge process. Compare churn.postToSidecarMs with bench:e2e zooKeeperToSidecarMs.',
    };
    const out = writeResult(OUT, result);
    log(
      `POST -> sidecar p50 ${endToEnd.p50} ms, p90 ${endToEnd.p90}, p99 ${endToEnd.p99}, max ${endToEnd.max} ` +
        `(n=${endToEnd.n}); stages p50/p99 (ms): ${Object.entries(stages)
          .map(([k, v]) => `${k} ${v.p50}/${v.p99}`)
          .join(', ')}; istiod CPU ${cpu.istiod}%, machine ${machineBusyCores} cores`,
    );
    log(`wrote ${out}`);
  } finally {
    for (const f of stopFns.reverse()) await Promise.resolve(f()).catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:istiod-floor failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
