/**
 * Watching istiod from the outside, for the benchmarks that time changes through it (bench:istiod-floor; the same
 * approach as bench:e2e): a sidecar-style ADS client, a JSON-lines log follower, version timelines, the machine's
 * busy time, and istiod's own CPU profile.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLA_TYPE, CLUSTER_TYPE, XdsClient, type DecodedResponse } from '../harness/xds-probe.ts';
import { DeltaXdsClient, type DeltaResponse } from '../harness/xds-delta-client.ts';
import { EnvoyCluster, EnvoyClusterLoadAssignment } from '../schemas/proto.ts';
import { istiodBinary } from '../harness/install.ts';
import { projectRoot } from '../harness/paths.ts';
import { percentile, procStats } from './support.ts';

const execFileAsync = promisify(execFile);

/** n, p50, p90, p99 and max of a list of latencies. */
export function latencySummary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
  };
}

/** Follows a JSON-lines log file, handing each parsed record to `on`. */
export class LogTail {
  private offset = 0;
  private rest = '';
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly file: string,
    private readonly on: (rec: Record<string, unknown>) => void,
  ) {
    this.timer = setInterval(() => this.read(), 20);
  }
  read(): void {
    if (!fs.existsSync(this.file)) return;
    const fd = fs.openSync(this.file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.rest + buf.toString('utf8')).split('\n');
      this.rest = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        try {
          this.on(JSON.parse(l) as Record<string, unknown>);
        } catch {
          /* partial or foreign line */
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  stop(): void {
    clearInterval(this.timer);
    this.read();
  }
}

/** Times of versions: the first time a version at least v was seen. */
export class VersionTimes {
  private readonly seen: { v: number; at: number }[] = [];
  add(v: number, at: number): void {
    if (this.seen.length === 0 || v > this.seen[this.seen.length - 1]!.v) this.seen.push({ v, at });
  }
  firstAtLeast(v: number): number | undefined {
    let lo = 0;
    let hi = this.seen.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seen[mid]!.v < v) lo = mid + 1;
      else hi = mid;
    }
    return this.seen[lo]?.at;
  }
}

/**
 * A sidecar as istiod sees one: CDS, then EDS for every meshbridge cluster, ACKing every response. Keeps each
 * cluster's endpoint set and reports, with the response's arrival time, every endpoint that appeared or left.
 * Speaks delta xDS by default, as istiod's sidecars do (ISTIO_DELTA_XDS); BENCH_SIDECAR=sotw for state of the world,
 * whose ACKs repeat every subscribed cluster name (10,000 at this scale) for istiod to decode each time.
 */
/** The sidecar's protocol (BENCH_SIDECAR): delta, what istiod's sidecars speak by default, or sotw. */
export const sidecarMode = (): 'delta' | 'sotw' => (process.env.BENCH_SIDECAR === 'sotw' ? 'sotw' : 'delta');

export class Sidecar {
  readonly endpoints = new Map<string, Set<string>>();
  clusters: string[] = [];
  edsResponses = 0;
  cdsResponses = 0;
  private readonly sotw: XdsClient | undefined;
  private readonly delta: DeltaXdsClient | undefined;
  private edsVersion = '';
  private edsNonce = '';
  constructor(
    address: string,
    readonly mode: 'delta' | 'sotw',
    /** Cluster-name prefix of the benchmark's services: the only clusters followed. */
    private readonly clusterPrefix: string,
    private readonly onChange: (cluster: string, added: string[], removed: string[], at: number) => void,
  ) {
    const node = {
      id: 'sidecar~10.0.0.1~bench.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default' },
    };
    if (mode === 'sotw') {
      this.sotw = new XdsClient(address, node);
      this.sotw.onResponse = (r, at) => this.onSotw(r, at);
    } else {
      this.delta = new DeltaXdsClient(address, node);
      this.delta.onResponse = (r, at) => this.onDelta(r, at);
    }
  }
  start(): void {
    this.sotw?.open().send({ typeUrl: CLUSTER_TYPE });
    this.delta?.open().subscribe(CLUSTER_TYPE);
  }
  close(): void {
    this.sotw?.close();
    this.delta?.close();
  }
  private ours = (name: string) => name.startsWith(this.clusterPrefix);
  private onSotw(r: DecodedResponse, at: number): void {
    const c = this.sotw!;
    if (r.typeUrl === CLUSTER_TYPE) {
      this.cdsResponses++;
      const names = r.resources
        .map((x) => (EnvoyCluster.decode(x.value) as unknown as { name: string }).name)
        .filter(this.ours)
        .sort();
      c.send({ typeUrl: CLUSTER_TYPE, versionInfo: r.versionInfo, nonce: r.nonce });
      if (names.join() !== this.clusters.join()) {
        this.clusters = names;
        c.send({ typeUrl: CLA_TYPE, resourceNames: names, versionInfo: this.edsVersion, nonce: this.edsNonce });
      }
      return;
    }
    if (r.typeUrl !== CLA_TYPE) return;
    this.edsResponses++;
    this.edsVersion = r.versionInfo;
    this.edsNonce = r.nonce;
    c.send({ typeUrl: CLA_TYPE, resourceNames: this.clusters, versionInfo: r.versionInfo, nonce: r.nonce });
    for (const x of r.resources) this.applyCla(x.value, at);
  }
  private onDelta(r: DeltaResponse, at: number): void {
    const c = this.delta!;
    c.ack(r);
    if (r.typeUrl === CLUSTER_TYPE) {
      this.cdsResponses++;
      const have = new Set(this.clusters);
      const added = r.resources.map((x) => x.name).filter((n) => this.ours(n) && !have.has(n));
      const removed = r.removed.filter((n) => have.has(n));
      if (added.length === 0 && removed.length === 0) return;
      for (const n of removed) have.delete(n);
      this.clusters = [...have, ...added].sort();
      c.subscribe(CLA_TYPE, added, removed);
      return;
    }
    if (r.typeUrl !== CLA_TYPE) return;
    this.edsResponses++;
    for (const x of r.resources) this.applyCla(x.value, at);
  }
  private applyCla(value: Uint8Array, at: number): void {
    const cla = EnvoyClusterLoadAssignment.decode(value) as unknown as {
      cluster_name: string;
      endpoints: {
        lb_endpoints: { endpoint?: { address?: { socket_address?: { address: string; port_value: number } } } }[];
      }[];
    };
    const now = new Set<string>();
    for (const l of cla.endpoints)
      for (const e of l.lb_endpoints) now.add(e.endpoint?.address?.socket_address?.address ?? '');
    const before = this.endpoints.get(cla.cluster_name) ?? new Set<string>();
    const added = [...now].filter((a) => !before.has(a));
    const removed = [...before].filter((a) => !now.has(a));
    this.endpoints.set(cla.cluster_name, now);
    if (added.length > 0 || removed.length > 0) this.onChange(cla.cluster_name, added, removed, at);
  }
  get endpointCount(): number {
    let n = 0;
    for (const s of this.endpoints.values()) n += s.size;
    return n;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
export function machineCpu(): { busy: number; total: number; steal: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  // steal (the 8th field): time the hypervisor ran something else while this VM had work for the CPU.
  return { busy: total - idle, total, steal: f[7] ?? 0 };
}

/**
 * istiod's CPU profile (its pprof endpoint on the monitoring port) over `seconds`, started `delayMs` in; written to
 * `file`.
 */
export async function profileIstiod(monitoringPort: number, seconds: number, file: string, delayMs = 5_000) {
  await new Promise((r) => setTimeout(r, delayMs));
  return savePprof(monitoringPort, `/debug/pprof/profile?seconds=${seconds}`, file);
}

/** istiod's heap profile now (in-use bytes as of its last garbage collection), written to `file`. */
export function heapProfileIstiod(monitoringPort: number, file: string): Promise<string> {
  return savePprof(monitoringPort, '/debug/pprof/heap', file);
}

async function savePprof(monitoringPort: number, pathname: string, file: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${monitoringPort}${pathname}`);
  if (!res.ok) throw new Error(`istiod profile: HTTP ${res.status} from ${pathname}`);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

/**
 * `go tool pprof -top` by flat and by cumulative time, next to the profile (<name>-top.txt). Asynchronous: it takes
 * seconds, and a blocked event loop would stall the benchmark's clients.
 */
export async function summariseProfile(pprof: string): Promise<{ pprof: string; top: string }> {
  const top = pprof.replace(/\.pprof$/, '-top.txt');
  const run = async (...flags: string[]) => {
    const r = await execFileAsync('go', ['tool', 'pprof', '-top', '-nodecount=60', ...flags, istiodBinary(), pprof], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return r.stdout;
  };
  fs.writeFileSync(top, `# flat\n${await run()}\n# cumulative\n${await run('-cum')}`);
  return { pprof: path.relative(projectRoot, pprof), top: path.relative(projectRoot, top) };
}

/**
 * CPU over a window (the churn): each process's share of a core, the benchmark's own, and the whole machine's busy
 * cores — on 2 cores a saturated machine, not any one stage, sets the queueing delays.
 */
export class ChurnCpu {
  private readonly proc0: Record<string, number>;
  private readonly machine0 = machineCpu();
  private readonly bench0 = process.cpuUsage();
  constructor(private readonly pids: Record<string, number | undefined>) {
    this.proc0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStats(p).cpuSeconds]));
  }
  /**
   * Percent of a core per process (and `benchmarkClient`), busy cores, and the percent of the machine's CPU time the
   * hypervisor took for others (steal), over `seconds` since construction.
   */
  read(seconds: number): { cpuPercent: Record<string, number>; machineBusyCores: number; machineStealPercent: number } {
    const pct = (s: number) => Number(((s / seconds) * 100).toFixed(1));
    const cpuPercent = Object.fromEntries(
      Object.entries(this.pids).map(([k, p]) => [k, pct(procStats(p).cpuSeconds - this.proc0[k]!)]),
    );
    const b = process.cpuUsage(this.bench0);
    cpuPercent.benchmarkClient = pct((b.user + b.system) / 1e6);
    const m = machineCpu();
    const busy = ((m.busy - this.machine0.busy) / (m.total - this.machine0.total)) * os.cpus().length;
    const steal = ((m.steal - this.machine0.steal) / (m.total - this.machine0.total)) * 100;
    return { cpuPercent, machineBusyCores: Number(busy.toFixed(2)), machineStealPercent: Number(steal.toFixed(2)) };
  }
}

/**
 * Services whose endpoints at the sidecar differ from the registry's (instance addresses per service index): a change
 * that was not seen as such (folded into another) must still leave the right endpoints; any difference is lost.
 */
export function wrongServices(
  registry: ReadonlyMap<number, readonly string[]>,
  sidecar: Sidecar,
  clusterOf: (i: number) => string,
  nameOf: (i: number) => string,
): string[] {
  const wrong: string[] = [];
  for (const [i, list] of registry) {
    const have = sidecar.endpoints.get(clusterOf(i)) ?? new Set<string>();
    if (have.size !== list.length || list.some((a) => !have.has(a))) wrong.push(nameOf(i));
  }
  return wrong;
}
