import { setTimeout as delay } from 'node:timers/promises';

/**
 * Spaces calls to at most `perSecond` a second on average: `await pace()` before each. It sleeps only once it is more
 * than `slackMs` ahead of that rate, so calls go in small bursts (one timer per ~slackMs, not one per call).
 *
 * Why: a periodic full re-read is the safety net for missed watches, not urgent work. Unpaced, re-reading 50,000
 * services took ~18 s of ZooKeeper's and the collector's CPU at once, and changes that fell inside it waited seconds
 * (bench:e2e, docs/collectors.md "Periodic re-read").
 */
export function pacer(
  perSecond: number,
  slackMs = 20,
  clock: { now(): number; sleep(ms: number): Promise<unknown> } = { now: () => performance.now(), sleep: delay },
): () => Promise<void> {
  const interval = 1000 / perSecond;
  let next: number | undefined;
  return async () => {
    const now = clock.now();
    // Never bank credit for a past pause: a pass that waited on ZooKeeper does not then burst to catch up.
    next = next === undefined ? now : Math.max(next, now - slackMs);
    next += interval;
    if (next - now > slackMs) await clock.sleep(next - now);
  };
}
