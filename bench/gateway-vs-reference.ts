/**
 * The xds-gateway against a reference config source on go-control-plane (bench/reference/), side by side
 * (`npm run bench:gateway-vs-reference`): same machine, same 10,000 ServiceEntries × 10 endpoints, same resource
 * bytes, rounds alternating between the two. The gateway runs as production runs it: the compiled JavaScript
 * (dist/, the gateway role's single-file bundle) as a child process with the image launcher's Node flags, reading
 * the snapshot from a real Redis written through the projector's commit script;
 * the reference loads the same Any elements from a file and takes a change over HTTP. Results:
 * bench/results/gateway-vs-reference.{json,md}; summary in docs/gateway.md.
 *
 * Both servers get the same clients (bench/gateway.ts LightClient: reads version and nonce only) and the same change
 * protocol: change, wait for the response on every stream, ACK, pause PAUSE_MS (longer than the gateway's 50 ms push
 * window, so each change is an isolated one, pushed on the leading edge), repeat.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { makeRunDir, projectRoot } from '../harness/paths.ts';
import { ROLE_NODE_FLAGS } from '../harness/role-node-flags.ts';
import { ensureInstalled } from '../harness/install.ts';
import { startRedis } from '../harness/redis.ts';
import { gatewayConfig } from '../harness/gateway-fleet.ts';
import { ManagedProcess } from '../harness/process.ts';
import { freePort, isListening } from '../harness/ports.ts';
import { serviceEntry, type SnapshotWriter } from '../harness/snapshot-writer.ts';
import { waitFor } from '../harness/wait.ts';
import { DEBOUNCE_MS, ENDPOINTS, LightClient, SERVICES, writeBenchSnapshot } from './gateway.ts';
import { machineInfo, nodeFlagsFromEnv, percentile, procStats, writeResult } from './support.ts';
import { referenceBinary, resourceRecord } from './reference-binary.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHANGES_1 = Number(process.env.BENCH_CHANGES ?? 30);
const CHANGES_20 = Number(process.env.BENCH_CHANGES_20 ?? 10);
const STREAMS = 20;
const PAUSE_MS = 100;
/**
 * The Node flags the image's launcher gives the gateway role (harness/role-node-flags.ts); BENCH_GATEWAY_NODE_FLAGS
 * (space-separated, '' for none) measures others.
 */
const GATEWAY_NODE_FLAGS = nodeFlagsFromEnv('BENCH_GATEWAY_NODE_FLAGS', ROLE_NODE_FLAGS.gateway);

const round2 = (x: number) => Math.round(x * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `npm run build`, plus the schema files the compiled code reads at run time (as the Dockerfile copies them). */
function buildGateway(): string {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: projectRoot, stdio: 'inherit' });
  for (const d of ['avro', 'proto'])
    fs.cpSync(path.join(projectRoot, 'schemas', d), path.join(projectRoot, 'dist', 'schemas', d), { recursive: true });
  return path.join(projectRoot, 'dist', 'bin', 'cli.js');
}

interface Server {
  proc: ManagedProcess;
  grpcPort: number;
  /** Applies change number i (same resource bytes on both sides). */
  change(i: number): Promise<void>;
}

type Side = 'gateway' | 'reference';

/**
 * Change numbers run on across rounds and sides: every change is new content (the projector's commit script drops an
 * upsert of identical bytes, so a repeated change would never be pushed).
 */
let changeSeq = 0;

function changed(i: number): [string, Buffer] {
  return serviceEntry({
    namespace: `ns-${i % 20}`,
    host: `svc-${i}.ns-${i % 20}.svc`,
    endpoints: ENDPOINTS,
    seed: 1_000_000 + i,
  });
}

interface Round {
  side: Side;
  startToReadyMs: number;
  idleRssMiB: number;
  peakRssMiB: number;
  responseBytes: number;
  connect1Ms: number;
  connect20Ms: number;
  change1Ms: number[];
  change20Ms: number[];
  cpuPerPush1Ms: number;
  cpuPerPush20Ms: number;
}

/** One round against a started server: the measurements every side gets. */
async function measure(side: Side, start: () => Promise<Server>): Promise<Round> {
  const t0 = performance.now();
  const srv = await start();
  try {
    // start -> ready: the first complete response a client gets (the gateway holds it until its snapshot is complete).
    await waitFor(() => isListening(srv.grpcPort), { what: `${side} listening`, timeoutMs: 60_000, intervalMs: 5 });
    const probe = new LightClient(srv.grpcPort, `${side}-probe`);
    const first = probe.next();
    probe.send();
    await first;
    const startToReadyMs = performance.now() - t0;
    const responseBytes = probe.got[0]!.bytes;
    probe.close();
    await sleep(1000);
    const idleRssMiB = procStats(pidOf(srv)).rssMiB;

    // connect -> complete response, 1 stream, then the changes on it.
    const tc = performance.now();
    const one = new LightClient(srv.grpcPort, `${side}-one`);
    const r1 = one.next();
    one.send();
    await r1;
    const connect1Ms = performance.now() - tc;
    one.ackLast();
    await sleep(PAUSE_MS);
    const change1Ms = await changes(srv, [one], CHANGES_1);
    const cpuPerPush1Ms = change1Ms.cpuMs / CHANGES_1;
    one.close();

    // connect -> complete response on 20 new streams at once, then changes fanned out to all of them.
    const tm = performance.now();
    const many = Array.from({ length: STREAMS }, (_, i) => new LightClient(srv.grpcPort, `${side}-${i}`));
    await Promise.all(
      many.map((c) => {
        const p = c.next();
        c.send();
        return p;
      }),
    );
    const connect20Ms = performance.now() - tm;
    for (const c of many) c.ackLast();
    await sleep(PAUSE_MS);
    const change20Ms = await changes(srv, many, CHANGES_20);
    for (const c of many) c.close();
    const peakRssMiB = procStats(pidOf(srv)).peakRssMiB;
    return {
      side,
      startToReadyMs,
      idleRssMiB,
      peakRssMiB,
      responseBytes,
      connect1Ms,
      connect20Ms,
      change1Ms: change1Ms.ms,
      change20Ms: change20Ms.ms,
      cpuPerPush1Ms,
      cpuPerPush20Ms: change20Ms.cpuMs / (CHANGES_20 * STREAMS),
    };
  } finally {
    await srv.proc.stop();
  }
}

function pidOf(srv: Server): number {
  const pid = srv.proc.pid;
  if (!pid) throw new Error(`${srv.proc.spec.name} has no pid (log ${srv.proc.logFile})`);
  return pid;
}

/**
 * `n` changes, each timed from its start to the complete response on the last of `clients`; every response ACKed
 * before the next change. Also the server's CPU time over the whole run.
 */
async function changes(srv: Server, clients: LightClient[], n: number): Promise<{ ms: number[]; cpuMs: number }> {
  const out: number[] = [];
  const cpu0 = procStats(pidOf(srv)).cpuSeconds;
  for (let k = 0; k < n; k++) {
    const got = Promise.all(clients.map((c) => c.next()));
    const t = performance.now();
    const i = changeSeq++;
    await srv.change(i);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      got,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${srv.proc.spec.name}: change ${i} not received within 30 s (${srv.proc.logFile})`)),
          30_000,
        );
      }),
    ]);
    clearTimeout(timer);
    out.push(Math.max(...clients.map((c) => c.got.at(-1)!.at)) - t);
    for (const c of clients) c.ackLast();
    await sleep(PAUSE_MS);
  }
  // The pauses are idle time on both sides; CPU counted over the run is the pushes' (and ACKs') cost.
  return { ms: out, cpuMs: (procStats(pidOf(srv)).cpuSeconds - cpu0) * 1000 };
}

function summary(rounds: Round[]) {
  const all = (f: (r: Round) => number[]) => rounds.flatMap(f).sort((a, b) => a - b);
  const med = (f: (r: Round) => number) =>
    percentile(
      rounds.map(f).sort((a, b) => a - b),
      50,
    );
  const c1 = all((r) => r.change1Ms);
  const c20 = all((r) => r.change20Ms);
  return {
    rounds: rounds.length,
    responseMiB: round2(rounds[0]!.responseBytes / 1048576),
    change1: { p50Ms: round2(percentile(c1, 50)), p90Ms: round2(percentile(c1, 90)), samples: c1.length },
    change20: { p50Ms: round2(percentile(c20, 50)), p90Ms: round2(percentile(c20, 90)), samples: c20.length },
    cpuPerPush1Ms: round2(med((r) => r.cpuPerPush1Ms)),
    cpuPerPush20Ms: round2(med((r) => r.cpuPerPush20Ms)),
    connect1Ms: round2(med((r) => r.connect1Ms)),
    connect20Ms: round2(med((r) => r.connect20Ms)),
    startToReadyMs: round2(med((r) => r.startToReadyMs)),
    idleRssMiB: med((r) => r.idleRssMiB),
    peakRssMiB: med((r) => r.peakRssMiB),
  };
}

type Summary = ReturnType<typeof summary>;

const ROWS: [string, (s: Summary) => number][] = [
  ['change → received, 1 stream, p50 (ms)', (s) => s.change1.p50Ms],
  ['change → received, 1 stream, p90 (ms)', (s) => s.change1.p90Ms],
  ['change → received on all 20 streams, p50 (ms)', (s) => s.change20.p50Ms],
  ['change → received on all 20 streams, p90 (ms)', (s) => s.change20.p90Ms],
  ['server CPU per push, 1 stream (ms)', (s) => s.cpuPerPush1Ms],
  ['server CPU per push, 20 streams (ms)', (s) => s.cpuPerPush20Ms],
  ['connect → complete response, 1 stream (ms)', (s) => s.connect1Ms],
  ['connect → complete response, 20 streams (ms)', (s) => s.connect20Ms],
  ['start → ready (ms)', (s) => s.startToReadyMs],
  ['idle RSS (MiB)', (s) => s.idleRssMiB],
  ['peak RSS (MiB)', (s) => s.peakRssMiB],
];

async function main() {
  ensureInstalled(['redis']);
  const runDir = makeRunDir('bench-gateway-vs-reference');
  const refBin = await referenceBinary();
  const cli = buildGateway();
  const redis = await startRedis(runDir);
  const loadAvgAtStart = os.loadavg().map(round2);
  const rounds: Round[] = [];
  let writer: SnapshotWriter | undefined;
  try {
    // The same resources for both: the gateway reads them from Redis, the reference from this file.
    const file = path.join(runDir, 'resources.bin');
    const fd = fs.openSync(file, 'w');
    const record = (name: string, any: Buffer) => fs.writeSync(fd, resourceRecord(name, any));
    const { writer: w } = await writeBenchSnapshot(redis.url, record);
    fs.closeSync(fd);
    writer = w;
    console.log(`snapshot: ${SERVICES} ServiceEntries × ${ENDPOINTS} endpoints, in Redis and in ${file}`);

    const startGateway = async (): Promise<Server> => {
      const grpcPort = await freePort();
      const httpPort = await freePort();
      const cfg = gatewayConfig(redis.url, w.prefix, { grpcPort, httpPort, debounceMs: DEBOUNCE_MS });
      const cfgFile = path.join(runDir, `gateway-${grpcPort}.yaml`);
      fs.writeFileSync(cfgFile, YAML.stringify(cfg));
      const proc = new ManagedProcess({
        name: `gateway-${grpcPort}`,
        command: process.execPath,
        args: [...GATEWAY_NODE_FLAGS, cli, 'gateway', '--config', cfgFile],
        env: { NODE_ENV: 'production', MESHBRIDGE_LOG_LEVEL: 'info' },
        logDir: runDir,
      });
      return {
        proc,
        grpcPort,
        change: async (i) => {
          await w.commit(new Map([changed(i)]));
        },
      };
    };
    const startReference = async (): Promise<Server> => {
      const grpcPort = await freePort();
      const httpPort = await freePort();
      const proc = new ManagedProcess({
        name: `reference-${grpcPort}`,
        command: refBin,
        args: ['-grpc', `127.0.0.1:${grpcPort}`, '-http', `127.0.0.1:${httpPort}`, '-resources', file],
        logDir: runDir,
      });
      return {
        proc,
        grpcPort,
        change: async (i) => {
          const [name, any] = changed(i);
          const res = await fetch(`http://127.0.0.1:${httpPort}/resource?name=${encodeURIComponent(name)}`, {
            method: 'POST',
            body: new Uint8Array(any),
          });
          if (!res.ok) throw new Error(`reference change ${i}: ${res.status} ${await res.text()}`);
        },
      };
    };

    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, so drift in the machine's load does not favour one.
      const order: Side[] = r % 2 === 0 ? ['gateway', 'reference'] : ['reference', 'gateway'];
      for (const side of order) {
        const res = await measure(side, side === 'gateway' ? startGateway : startReference);
        rounds.push(res);
        const p50 = (xs: number[]) =>
          round2(
            percentile(
              [...xs].sort((a, b) => a - b),
              50,
            ),
          );
        console.log(
          `round ${r + 1} ${side}: ready ${round2(res.startToReadyMs)} ms, change p50 1/20 streams ` +
            `${p50(res.change1Ms)}/${p50(res.change20Ms)} ms, ` +
            `CPU/push ${round2(res.cpuPerPush1Ms)}/${round2(res.cpuPerPush20Ms)} ms, idle/peak RSS ` +
            `${res.idleRssMiB}/${res.peakRssMiB} MiB`,
        );
      }
    }
  } finally {
    writer?.close();
    await redis.stop();
  }

  const g = summary(rounds.filter((r) => r.side === 'gateway'));
  const ref = summary(rounds.filter((r) => r.side === 'reference'));
  const results = {
    when: new Date().toISOString(),
    machine: machineInfo({
      go: execFileSync('go', ['version'], { encoding: 'utf8' }).trim(),
      loadAvgAtStart,
      loadAvgAtEnd: os.loadavg().map(round2),
    }),
    workload: {
      services: SERVICES,
      endpointsPerService: ENDPOINTS,
      rounds: ROUNDS,
      changesOneStream: CHANGES_1,
      changesTwentyStreams: CHANGES_20,
      pauseBetweenChangesMs: PAUSE_MS,
      gatewayDebounceMs: DEBOUNCE_MS,
      gatewayNodeFlags: GATEWAY_NODE_FLAGS,
    },
    gateway: g,
    reference: ref,
    ratio: Object.fromEntries(ROWS.map(([k, f]) => [k, round2(f(g) / f(ref))])),
    note:
      'ratio = gateway / reference (below 1: the gateway is faster or smaller). The gateway changes through a Redis ' +
      'commit (projector script) it follows; the reference through an HTTP POST. Server CPU per push = process CPU ' +
      'over the change runs / responses pushed (ACK handling included).',
  };
  const out = writeResult('gateway-vs-reference.json', results);
  const md = [
    `# xds-gateway vs go-control-plane reference (${results.when.slice(0, 10)})`,
    '',
    `${SERVICES} ServiceEntries × ${ENDPOINTS} endpoints (${g.responseMiB} MiB response), ${ROUNDS} interleaved ` +
      `rounds per side, ${os.cpus().length} CPUs. Produced by \`npm run bench:gateway-vs-reference\`.`,
    '',
    '| | gateway | reference | gateway / reference |',
    '|---|---:|---:|---:|',
    ...ROWS.map(([k, f]) => `| ${k} | ${f(g)} | ${f(ref)} | ${round2(f(g) / f(ref))} |`),
    '',
  ].join('\n');
  fs.writeFileSync(out.replace(/\.json$/, '.md'), md);
  console.log(md);
  console.log(`results: ${path.relative(process.cwd(), out)}`);
}

await main();
