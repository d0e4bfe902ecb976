import { createHash } from 'node:crypto';

/** Milliseconds per round of a fixed piece of work; the fastest of the rounds (the others met interference). */
export interface CpuCalibration {
  /** SHA-256 of 16 MiB: native code, one thread. */
  hashMs: number;
  /** FNV-1a over 8 MiB in a JavaScript loop: optimised JavaScript, no allocation. */
  loopMs: number;
  rounds: number;
}

const HASH_INPUT = Buffer.alloc(16 * 1024 * 1024, 0x5a);
const LOOP_INPUT = HASH_INPUT.subarray(0, 8 * 1024 * 1024);

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/**
 * How fast this machine's cores are at the moment, measured in the benchmark's own process before it starts anything.
 * The same code, binaries and workload have taken 20–35% more CPU on some afternoons than on others
 * (docs/benchmarks.md, "Session 13"): a result that carries this figure can be told apart from a regression, and
 * two results can be compared only when theirs agree.
 */
export function cpuCalibration(rounds = 7): CpuCalibration {
  let hashMs = Infinity;
  let loopMs = Infinity;
  for (let r = 0; r < rounds; r++) {
    hashMs = Math.min(
      hashMs,
      timed(() => createHash('sha256').update(HASH_INPUT).digest()),
    );
    loopMs = Math.min(
      loopMs,
      timed(() => fnv1a(LOOP_INPUT)),
    );
  }
  return { hashMs: Number(hashMs.toFixed(1)), loopMs: Number(loopMs.toFixed(1)), rounds };
}
