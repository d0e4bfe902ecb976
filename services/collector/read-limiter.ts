/**
 * At most `limit` watch-driven reads run at once; the rest wait in arrival order, each key once (a key touched again
 * while it waits is already going to be read with the newest data).
 *
 * Why: a registry being filled (10,000 interfaces registering at once) fires a watch per change, and unbounded reads
 * put tens of thousands of ZooKeeper callbacks in the event loop at the same time. The leader lease's renewal then
 * waits behind them past its deadline, the collector steps down, every in-flight read fails its fence, and the next
 * leader starts the same flood again (measured: 5 lost leases in one 10,000 x 10 load). Bounded, the event loop stays
 * responsive and the reads still overlap enough to batch the publishes.
 */
export class ReadLimiter<K> {
  private running = 0;
  private readonly waiting = new Set<K>();

  constructor(
    private readonly limit: number,
    private readonly read: (key: K) => Promise<void>,
  ) {}

  submit(key: K): void {
    if (this.running < this.limit) this.start(key);
    else this.waiting.add(key);
  }

  /** Keys waiting for a slot (not yet reading). */
  queued(): K[] {
    return [...this.waiting];
  }

  clear(): void {
    this.waiting.clear();
  }

  private start(key: K): void {
    this.running++;
    // `read` settles (its owner handles failures); the slot is freed whatever the outcome.
    void this.read(key)
      .catch(() => undefined)
      .finally(() => {
        this.running--;
        const next = this.waiting.values().next();
        if (!next.done) {
          this.waiting.delete(next.value);
          this.start(next.value);
        }
      });
  }
}
