import type { RegistryPause } from './e2e-registries.ts';

/** One of istiod's garbage collections, from its GODEBUG=gctrace=1 line. */
export interface GcCycle extends RegistryPause {
  /** CPU istiod's own goroutines spent helping the mark (time taken from serving config). */
  assistCpuMs: number;
  /** Heap at the start, at the end, and marked live (MB). */
  heapMB: [start: number, end: number, live: number];
}

// gc 34 @215.577s 15%: 0.17+14459+2.2 ms clock, 0.34+5390/7229/513+4.5 ms cpu, 7159->8632->4584 MB, ...
const GC_LINE =
  /^gc \d+ @([\d.]+)s \d+%: [\d.]+\+([\d.]+)\+[\d.]+ ms clock, [\d.]+\+([\d.]+)\/[\d.]+\/[\d.]+\+[\d.]+ ms cpu, (\d+)->(\d+)->(\d+) MB/gm;

/**
 * istiod's garbage collections whose concurrent mark overlaps [fromMs, toMs], from its log with GODEBUG=gctrace=1.
 * Times in a gctrace line count from the Go runtime's start, so `startedAtMs` is when the process was started (the
 * benchmark records it just before; off by the tens of ms a start takes). `ms` is the mark's wall time: at 50,000
 * services each cycle marks ~4.5 GB, and changes arriving during it wait for the goroutines it slows down.
 */
export function istiodGcCycles(log: string, startedAtMs: number, fromMs: number, toMs: number): GcCycle[] {
  const out: GcCycle[] = [];
  for (const m of log.matchAll(GC_LINE)) {
    const start = startedAtMs + Number(m[1]) * 1000;
    const ms = Math.round(Number(m[2]));
    if (start + ms < fromMs || start > toMs) continue;
    out.push({
      what: 'istiod GC',
      atS: Math.round((start - fromMs) / 100) / 10,
      ms,
      assistCpuMs: Math.round(Number(m[3])),
      heapMB: [Number(m[4]), Number(m[5]), Number(m[6])],
    });
  }
  return out;
}

/** Changes split by whether istiod was collecting while they should have reached the sidecar. */
export interface GcSplit<T> {
  clear: T[];
  duringGc: T[];
}

/**
 * Splits timed changes into those whose first `windowMs` after being issued (the latency target) overlaps none of
 * istiod's collections, and the rest. `churnStartMs` is the time the cycles' `atS` counts from; as `atS` is rounded to
 * 0.1 s, each cycle is widened by 100 ms on both sides, so a change counted clear is clear. A change's own latency
 * does not decide which side it lands on: one delayed by anything but a collection still counts in `clear`.
 */
export function splitByIstiodGc<T extends { issuedAt: number }>(
  changes: readonly T[],
  cycles: readonly GcCycle[],
  churnStartMs: number,
  windowMs: number,
): GcSplit<T> {
  const spans = cycles.map((c) => [churnStartMs + c.atS * 1000 - 100, churnStartMs + c.atS * 1000 + c.ms + 100]);
  const out: GcSplit<T> = { clear: [], duringGc: [] };
  for (const c of changes) {
    const hit = spans.some(([from, to]) => c.issuedAt <= to! && c.issuedAt + windowMs >= from!);
    (hit ? out.duringGc : out.clear).push(c);
  }
  return out;
}
