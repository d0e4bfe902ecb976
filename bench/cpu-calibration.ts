import { Worker } from 'node:worker_threads';

/** Milliseconds per round of a fixed piece of work; the fastest of the rounds (the others met interference). */
export interface CpuCalibration {
  /** SHA-256 of 16 MiB: native code, one thread. */
  hashMs: number;
  /**
   * 1,000,000 dependent reads at random places in 64 MiB: memory latency — what garbage collectors (istiod's, the
   * JVMs', V8's) and a host shared with other machines' caches depend on, and the hash does not measure.
   */
  memoryMs: number;
  rounds: number;
}

// Runs in a worker of its own, away from the benchmark's event loop and heap. Only figures that do not depend on the
// JIT: a JavaScript loop timed here (FNV-1a over 8 MiB) gave 12.7-13.7 ms in most starts and 17.9-34 ms in others on
// the same quiet machine, depending on when V8 optimised it.
const WORKLOAD = `
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const input = Buffer.alloc(16 * 1024 * 1024, 0x5a);
// A single cycle through 16 M slots (Sattolo's shuffle, fixed seed): each read depends on the one before.
const slots = new Int32Array(16 * 1024 * 1024);
for (let i = 0; i < slots.length; i++) slots[i] = i;
let seed = 12345;
for (let i = slots.length - 1; i > 0; i--) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  const j = seed % i;
  const t = slots[i];
  slots[i] = slots[j];
  slots[j] = t;
}
function chase(steps) {
  let p = 0;
  for (let i = 0; i < steps; i++) p = slots[p];
  return p;
}
function timed(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}
let hashMs = Infinity;
let memoryMs = Infinity;
for (let r = 0; r < workerData.rounds; r++) {
  hashMs = Math.min(hashMs, timed(() => createHash('sha256').update(input).digest()));
  memoryMs = Math.min(memoryMs, timed(() => chase(1000000)));
}
parentPort.postMessage({ hashMs, memoryMs });
`;

type Limits = Pick<CpuCalibration, 'hashMs' | 'memoryMs'>;

/**
 * Per CPU model (as `os.cpus()` names it), the calibration of the cores bench:e2e's 10,000-service runs have met the
 * p99 target on, with room for the spread of one evening. The figures are not comparable across models: the AMD EPYC
 * machines hash 16 MiB in 9.3 ms but chase memory in 140–153 ms, and met the target at both. Intel Xeon, session
 * 14's 15 runs with both figures (docs/benchmarks.md): six at sha-256 9.8–11.8 ms and memory 124–141 ms, all six
 * under 250 ms at p99; nine at 12.8–19.8 ms and 164–197 ms, two of them under it. Sessions 18–19 added nine runs at
 * sha-256 11.9–12 ms and memory 142–170 ms, all nine over it (p99 0.4–4 s): the room once left for an evening's spread
 * (12.3 / 150) called six of them fast, so the limits are now the edge of the runs that met the target.
 * AMD EPYC: sessions 15–17's ten runs met the target at sha-256 9.3–9.4 ms and memory 134–171 ms; session 22's, at
 * 9.4–9.6 and 188–190 ms, missed it (p99 1.7–3.5 s, every process taking ~1.5× the CPU for the same work): the limits
 * are the edge of the runs that met it.
 * A model without slow runs on record has no limits: its pace is unknown, not fast.
 */
export const FAST_MACHINE_LIMITS: Readonly<Record<string, Readonly<Limits>>> = {
  'Intel(R) Xeon(R) Processor': { hashMs: 11.8, memoryMs: 141.5 },
  'AMD EPYC': { hashMs: 9.4, memoryMs: 171 },
};

export interface MachinePace {
  pace: 'fast' | 'slow' | 'unknown';
  /** Which figure was over its limit, and by how much; empty unless slow. */
  over: string[];
}

/** Whether the cores are as fast as those of the runs that met the target: a result is comparable only within a pace. */
export function machinePace(
  c: CpuCalibration,
  model: string | undefined,
  limitsByModel: Readonly<Record<string, Readonly<Limits>>> = FAST_MACHINE_LIMITS,
): MachinePace {
  const limits = model === undefined ? undefined : limitsByModel[model.trim()];
  if (!limits) return { pace: 'unknown', over: [] };
  const over: string[] = [];
  if (c.hashMs > limits.hashMs) over.push(`sha-256 ${c.hashMs} ms > ${limits.hashMs}`);
  if (c.memoryMs > limits.memoryMs) over.push(`random reads ${c.memoryMs} ms > ${limits.memoryMs}`);
  return { pace: over.length === 0 ? 'fast' : 'slow', over };
}

/** The pace in a log line. */
export function describePace(p: MachinePace, model: string | undefined): string {
  if (p.pace === 'unknown') return `no runs of this CPU model (${model ?? 'unnamed'}) to judge its pace by`;
  return `cores ${p.pace} for a ${model}${p.over.length > 0 ? ` (${p.over.join(', ')})` : ''}`;
}

/** One line for a benchmark's log. */
export function describeCalibration(c: CpuCalibration): string {
  return `cpu calibration: sha-256 of 16 MiB ${c.hashMs} ms, 1 M random reads in 64 MiB ${c.memoryMs} ms`;
}

/**
 * How fast this machine's cores are at the moment, measured before the benchmark starts anything. The same code,
 * binaries and workload have taken 20–35% more CPU on some afternoons than on others (docs/benchmarks.md, "Session
 * 13"): a result that carries this figure can be told apart from a regression, and two results compared only when
 * theirs agree. The minimum over the rounds is unchanged beside a one-core busy loop on a 2-core machine.
 */
export function cpuCalibration(rounds = 9): Promise<CpuCalibration> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKLOAD, { eval: true, workerData: { rounds } });
    w.once('error', reject);
    w.once('message', (m: { hashMs: number; memoryMs: number }) => {
      const ms = (x: number) => Number(x.toFixed(1));
      resolve({ hashMs: ms(m.hashMs), memoryMs: ms(m.memoryMs), rounds });
      void w.terminate();
    });
  });
}
