/**
 * One major garbage collection after a full snapshot load is first served. A load reads the whole snapshot from
 * Redis into socket-sized buffers; once a list has been pushed its bytes live in the shared response message
 * (snapshot.ts, shareItemBytes) and the load's buffers are garbage, the size of the snapshot again. V8 frees them
 * only at its next major collection, which a gateway idle after start-up may not reach for hours: one collection
 * shortly after the first pushes returns them at once. It needs `node --expose-gc` (the image's launcher gives it to
 * the gateway role, deploy/docker/meshbridge.sh); without it this does nothing.
 */
export class LoadGarbage {
  private readonly seen = new WeakSet<object>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly collect: (() => void) | undefined = (globalThis as { gc?: () => void }).gc,
    /** Pushes of one tick (all shards, every istiod) land in one collection. */
    private readonly delayMs = 100,
  ) {}

  /** A list that came from a full load was just moved into a message. */
  served(list: object): void {
    if (!this.collect || this.seen.has(list)) return;
    this.seen.add(list);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.collect?.();
    }, this.delayMs).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
