import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from './istiod-view.ts';

/**
 * Polls a real istiod's /debug/configz while a test breaks things and records every window in which a service that
 * istiod already held, and that is still registered, was missing. `registered()` is the test's own record of what
 * the registry holds (mesh hosts); a host counts once istiod has held it at least once.
 */
export class IstiodWatch {
  readonly violations: string[] = [];
  readonly held = new Set<string>();
  polls = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly debug: (p: string) => Promise<unknown>,
    private readonly registered: () => Set<string>,
    intervalMs = 100,
  ) {
    this.loop = (async () => {
      while (this.running) {
        await this.poll().catch(() => undefined);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  /**
   * Hosts (namespace/host) istiod holds now, with their endpoint addresses: over every ServiceEntry of the host (a
   * host whose endpoints serve different ports is several, projection/split-ports.ts).
   */
  async current(): Promise<Map<string, string[]>> {
    const out = new Map<string, Set<string>>();
    for (const se of await serviceEntries(this.debug)) {
      const key = `${se.metadata.namespace}/${se.spec.hosts[0]}`;
      const set = out.get(key) ?? new Set<string>();
      for (const e of (se.spec.endpoints ?? []) as { address: string }[]) set.add(e.address);
      out.set(key, set);
    }
    return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
  }

  /** Waits until istiod holds every registered host; the error names the missing ones. */
  async holdsAll(what: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        const now = await this.current();
        return [...this.registered()].every((h) => now.has(h)) ? true : undefined;
      },
      { what, timeoutMs },
    ).catch(async (e) => {
      const now = await this.current();
      throw new Error(
        `${(e as Error).message}; missing: ${[...this.registered()].filter((h) => !now.has(h)).join(' ')}`,
      );
    });
  }

  /** Waits for `n` more polls (so a check covers the time after an event, e.g. a re-read's marker). */
  async morePolls(n: number): Promise<void> {
    const polls = this.polls;
    await waitFor(() => this.polls >= polls + n, { what: `${n} more istiod polls`, timeoutMs: n * 500 });
  }

  private async poll(): Promise<void> {
    const before = new Set(this.registered());
    const now = await this.current();
    const after = this.registered();
    this.polls++;
    for (const h of now.keys()) this.held.add(h);
    // Registered for the whole poll, held before, missing now: a live service istiod lost.
    for (const h of before) {
      if (after.has(h) && this.held.has(h) && !now.has(h))
        this.violations.push(`${new Date().toISOString()} ${h} missing from istiod while registered`);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Registers a new service every `everyMs` (the caller's `register(n)`) until stopped. */
export function registrationLoop(
  register: (n: number) => Promise<void>,
  everyMs: number,
): { count: () => number; stop: () => Promise<void> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      await register(n);
      n++;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    count: () => n,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
