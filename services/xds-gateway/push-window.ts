/**
 * When to push after a snapshot change, so that an isolated change goes out at once and a burst costs at most one
 * push per window: if nothing was pushed within the last `windowMs`, push now (leading edge); otherwise push when the
 * window that began with the last push ends (one trailing push carries every change made meanwhile). istiod debounces
 * again on its side, so the window protects the gateway and the network, not istiod.
 */
export function pushDelay(lastPushAt: number, now: number, windowMs: number): number {
  return Math.max(0, lastPushAt + windowMs - now);
}
