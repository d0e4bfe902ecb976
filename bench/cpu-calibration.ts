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
