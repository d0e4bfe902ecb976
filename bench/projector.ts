/**
 * Projector benchmark: real Kafka and Redis started by the harness, N pre-produced SERVICE_STATE events of
 * 10-instance services (gzip, keyed like the collector), consumed by real `meshbridge projector` processes.
 *
 *   npm run bench:projector            (BENCH_EVENTS, BENCH_SERVICES, BENCH_PARTITIONS to change the workload)
 *
 * Reports sustained events/s for one replica and for two replicas on separate partitions (measured in steady state:
 * from the moment every replica holds its final assignment to the moment Redis holds the last offset; and, as
 * `allActive`, only while every replica still had work, since partitions hold unequal shares), and the Redis
 * write cost (commits, bytes and Redis CPU per batch and per 1,000 events). Writes bench/results/projector.json
 * (BENCH_OUT to name another file in bench/results).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { ProjectorRig, startKafkaRedis, Churn, metricValue, type KafkaRedis } from '../harness/projector-kit.ts';
import { projectRoot } from '../harness/paths.ts';
import { ROLE_NODE_FLAGS } from '../harness/role-node-flags.ts';
import { waitFor } from '../harness/wait.ts';
import { cpuCalibration, describeCalibration } from './cpu-calibration.ts';
import { nodeFlagsFromEnv, writeResult, machineInfo } from './support.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 480_000);
const SERVICES = Number(process.env.BENCH_SERVICES ?? 5_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 6);
const INSTANCES = 10;
/**
 * Node flags for the projector processes (BENCH_NODE_OPTIONS, space-separated). The default is the image launcher's: a
 * 32 MiB young generation semi-space cuts the projector's CPU per event by ~10% (the fold allocates many short-lived
 * objects). BENCH_NODE_OPTIONS= (empty) measures Node's defaults.
 */
const NODE_FLAGS = nodeFlagsFromEnv('BENCH_NODE_OPTIONS', ROLE_NODE_FLAGS.projector);
/** BENCH_NODE_PROFILE=<dir>: each projector process runs under `node --cpu-prof` and writes its profile there. */
const PROFILE_DIR = process.env.BENCH_NODE_PROFILE;
const OUT = process.env.BENCH_OUT ?? 'projector.json';

interface RedisSample {
  cpu: number;
  evalCalls: number;
  evalUsec: number;
  netIn: number;
}

async function redisSample(r: Redis): Promise<RedisSample> {
  const info = await r.info('all');
  const num = (re: RegExp) => Number(re.exec(info)?.[1] ?? 0);
  return {
    cpu: num(/used_cpu_user:([\d.]+)/) + num(/used_cpu_sys:([\d.]+)/),
    evalCalls: num(/cmdstat_evalsha:calls=(\d+)/) + num(/cmdstat_eval:calls=(\d+)/),
    evalUsec: num(/cmdstat_evalsha:calls=\d+,usec=(\d+)/) + num(/cmdstat_eval:calls=\d+,usec=(\d+)/),
    netIn: num(/total_net_input_bytes:(\d+)/),
  };
}

async function scenario(base: KafkaRedis, replicas: number) {
  const rig = await ProjectorRig.create(base, { partitions: PARTITIONS });
  try {
    process.stderr.write(`[bench] ${replicas} replica(s): producing ${EVENTS} events over ${SERVICES} services\n`);
    const churn = new Churn(SERVICES, 42 + replicas, { removeRatio: 0, instances: INSTANCES });
    for (let i = 0; i < EVENTS; i += 10_000) await rig.produce(churn.next(Math.min(10_000, EVENTS - i)), 1000);
    const high = await rig.highWatermarks();
    const total = high.reduce((a, b) => a + b, 0n);
    const started = await Promise.all(
      Array.from({ length: replicas }, (_, i) =>
        rig.startReplica(
          `bench-${replicas}-${i}`,
          { MESHBRIDGE_LOG_LEVEL: 'warn' },
          PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE_DIR, `${replicas}-replica`)}`] : [],
          NODE_FLAGS,
        ),
      ),
    );
    // Steady state: every replica holds its final share of the partitions.
    await waitFor(
      async () => {
        const owned = await Promise.all(
          started.map(async (s) => metricValue(await rig.metrics(s.httpPort), 'meshbridge_projector_partitions_owned')),
        );
        return owned.every((n) => n === PARTITIONS / replicas) || undefined;
      },
      { what: 'final assignment', timeoutMs: 60_000, intervalMs: 20 },
    );
    const sumOf = (offsets: bigint[]) => offsets.reduce((a, b) => a + b, 0n);
    const r0 = await redisSample(rig.redis);
    const c0 = sumOf(await rig.storedOffsets());
    const t0 = performance.now();
    // Every poll's stored offsets, to find afterwards the moment the first replica ran out of work.
    const samples: { t: number; stored: bigint[] }[] = [];
    await waitFor(
      async () => {
        const stored = await rig.storedOffsets();
        samples.push({ t: performance.now(), stored });
        return sumOf(stored) >= total || undefined;
      },
      { what: 'all events projected', timeoutMs: 600_000, intervalMs: 20 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const allActive = await whileAllActive(
      started.map((s) => s.httpPort),
      samples,
      high,
      c0,
      t0,
    );
    const r1 = await redisSample(rig.redis);
    const events = Number(total - c0);
    const texts = await Promise.all(started.map((s) => rig.metrics(s.httpPort)));
    const m = (name: string) => texts.reduce((a, t) => a + metricValue(t, name), 0);
    const commits = m('meshbridge_projector_commit_bytes_count');
    const result = {
      replicas,
      partitions: PARTITIONS,
      eventsMeasured: events,
      eventsBeforeSteadyState: Number(c0),
      seconds: round(seconds, 2),
      eventsPerSecond: Math.round(events / seconds),
      // Sustained rate while every replica still had events to fold (until the first one had drained its partitions;
      // partitions hold unequal shares, so the last seconds of a run can be one replica alone).
      allActive,
      batches: commits,
      eventsPerBatch: round(
        m('meshbridge_projector_batch_events_sum') / Math.max(1, m('meshbridge_projector_batch_events_count')),
        1,
      ),
      batchMsMean: round(
        (1000 * m('meshbridge_projector_batch_seconds_sum')) /
          Math.max(1, m('meshbridge_projector_batch_seconds_count')),
        2,
      ),
      redis: {
        commits: r1.evalCalls - r0.evalCalls,
        bytesPerCommit: Math.round(m('meshbridge_projector_commit_bytes_sum') / Math.max(1, commits)),
        bytesPerEvent: Math.round((r1.netIn - r0.netIn) / Math.max(1, events)),
        scriptUsecPerCommit: Math.round((r1.evalUsec - r0.evalUsec) / Math.max(1, r1.evalCalls - r0.evalCalls)),
        cpuSeconds: round(r1.cpu - r0.cpu, 2),
        cpuMsPer1000Events: round(((r1.cpu - r0.cpu) * 1e6) / Math.max(1, events), 2),
        cpuShareOfWallClock: round((r1.cpu - r0.cpu) / seconds, 3),
      },
      resources: await rig.redis.hlen(rig.keys.resources),
      peakRssMiB: started.map((s) => peakRssMiB(s.proc.pid)),
    };
    const { diff } = await rig.diffAgainstReplay();
    if (diff) throw new Error(`benchmark snapshot differs from a clean replay:\n${diff}`);
    process.stderr.write(`[bench] ${JSON.stringify(result)}\n`);
    return result;
  } finally {
    await rig.close();
  }
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * Throughput until the first replica finished its own partitions (each replica's partitions from /debug/positions).
 * With one replica this is the whole run.
 */
async function whileAllActive(
  httpPorts: number[],
  samples: { t: number; stored: bigint[] }[],
  high: bigint[],
  c0: bigint,
  t0: number,
) {
  const owned = await Promise.all(
    httpPorts.map(async (port) =>
      Object.keys(
        (await (await fetch(`http://127.0.0.1:${port}/debug/positions`)).json()) as Record<string, string>,
      ).map(Number),
    ),
  );
  const done = (parts: number[], stored: bigint[]) => parts.every((p) => stored[p]! >= high[p]!);
  const first = samples.find((s) => owned.some((parts) => done(parts, s.stored))) ?? samples[samples.length - 1]!;
  const events = Number(first.stored.reduce((a, b) => a + b, 0n) - c0);
  const seconds = (first.t - t0) / 1000;
  return {
    seconds: round(seconds, 2),
    events,
    eventsPerSecond: Math.round(events / seconds),
    partitionsPerReplica: owned.map((o) => o.sort((a, b) => a - b)),
  };
}

/** A replica's peak resident memory so far (Linux VmHWM), per replica. */
function peakRssMiB(pid: number | undefined): number | null {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  // Before anything starts: how fast the cores are today (bench/cpu-calibration.ts).
  const calibration = await cpuCalibration();
  console.log(describeCalibration(calibration));
  const base = await startKafkaRedis('bench-projector');
  try {
    const load0 = os.loadavg();
    const one = await scenario(base, 1);
    const two = await scenario(base, 2);
    const out = {
      date: new Date().toISOString(),
      machine: machineInfo({
        loadAvgAtStart: load0.map((x) => round(x, 2)),
        loadAvgAtEnd: os.loadavg().map((x) => round(x, 2)),
        cpuCalibration: calibration,
      }),
      nodeOptions: NODE_FLAGS.join(' '),
      workload: {
        events: EVENTS,
        services: SERVICES,
        instancesPerEvent: INSTANCES,
        partitions: PARTITIONS,
        compression: 'gzip',
      },
      single: one,
      two,
      scaling: round(two.eventsPerSecond / one.eventsPerSecond, 2),
      scalingWhileAllActive: round(two.allActive.eventsPerSecond / one.allActive.eventsPerSecond, 2),
      targets: { singleEventsPerSecond: 20_000, twoReplicaScaling: 1.6 },
      verified: 'each run: the Redis snapshot equals a clean Replay of the topic byte for byte',
    };
    const file = writeResult(OUT, out);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\nwritten to ${path.relative(projectRoot, file)}\n`);
  } finally {
    await base.stop();
  }
}

await main();
