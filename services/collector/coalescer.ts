/**
 * Per-key coalescing with a leading edge: the first change to a quiet key fires at once (no added latency for the
 * usual isolated change), and further changes within `windowMs` of that fire collapse into one trailing fire at the
 * end of the window (a Dubbo application restarting its providers, a Consul health flap). At most two reads per key
 * per window, whatever the burst.
 */
export class Coalescer<K> {
  private readonly lastFire = new Map<K, number>();
  private readonly timers = new Map<K, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly windowMs: number,
    private readonly fire: (key: K) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  touch(key: K): void {
    if (this.stopped || this.timers.has(key)) return;
    const elapsed = this.now() - (this.lastFire.get(key) ?? -Infinity);
    const delay = elapsed >= this.windowMs ? 0 : this.windowMs - elapsed;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.lastFire.set(key, this.now());
        this.fire(key);
      }, delay),
    );
    // Forget keys that stayed quiet for a whole window: the map stays as small as the set of active keys.
    if (this.lastFire.size > 4096)
      for (const [k, t] of this.lastFire)
        if (this.now() - t > this.windowMs && !this.timers.has(k)) this.lastFire.delete(k);
  }

  /** Keys with a fire scheduled and not yet run. */
  scheduled(): K[] {
    return [...this.timers.keys()];
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
