/**
 * Milliseconds on the system's monotonic clock (CLOCK_MONOTONIC through `process.hrtime`), the same in every thread
 * of the process — unlike `performance.now()`, whose origin is per thread. For local deadlines that a step of the wall
 * clock (an NTP correction, a VM resumed and resynchronised) must not move: a lease believed lost or kept too long.
 * Not a time of day: never store it, send it or compare it with another process's.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}
