/** Wait on a condition with a deadline — never on a fixed sleep. */
export interface WaitOptions {
  /** What is being waited for, used in the timeout error. */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  // The monotonic clock: a step of the wall clock (NTP, a paused VM resynced) must not end a wait early or late.
  const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
  const interval = opts.intervalMs ?? 100;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      // A dead server will not come back: say so now instead of at the deadline.
      if ((err as { fatal?: boolean }).fatal) throw err;
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
