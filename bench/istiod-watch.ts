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
import type { Sidecar } from '../harness/sidecar-watch.ts';
import { istiodBinary } from '../harness/install.ts';
import { projectRoot } from '../harness/paths.ts';
import { waitFor } from '../harness/wait.ts';
import { procStats } from './support.ts';
import { classifyUnreached, type Unreached, type UnreachedChange } from './churn.ts';

const execFileAsync = promisify(execFile);

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

/**
 * The end of a churn: waits up to a minute for every change to reach the sidecar, then sorts those that never did
 * (classifyUnreached: an add and a removal of one provider istiod folded into one push, or lost; logged), and compares
 * the sidecar's endpoints with what `registry` holds (wrongServices, logged with an example).
 */
export async function settleAtSidecar<C extends UnreachedChange>(opts: {
  changes: readonly C[];
  serviceOf: (c: C) => string;
  registry: ReadonlyMap<number, readonly string[]>;
  registryName: string;
  sidecar: Sidecar;
  clusterOf: (i: number) => string;
  nameOf: (i: number) => string;
  log: (msg: string) => void;
}): Promise<{ wrong: string[]; unreached: Unreached }> {
  const { changes, log } = opts;
  await waitFor(() => changes.every((c) => c.sidecar !== undefined), {
    what: 'every change at the sidecar',
    timeoutMs: 60_000,
    intervalMs: 50,
  }).catch(() => undefined);
  const unreached = classifyUnreached(changes, opts.serviceOf);
  if (unreached.coalesced + unreached.lost > 0) {
    log(
      `${unreached.coalesced + unreached.lost} changes never reached the sidecar: ${unreached.coalesced} coalesced ` +
        `(a provider added and removed before istiod pushed either), ${unreached.lost} lost`,
    );
  }
  const wrong = wrongServices(opts.registry, opts.sidecar, opts.clusterOf, opts.nameOf);
  if (wrong.length > 0) {
    log(`final state differs from the ${opts.registryName} for ${wrong.length} services, e.g. ${wrong[0]}`);
  }
  return { wrong, unreached };
}
