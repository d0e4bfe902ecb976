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

  constructor(private readonly debug: (p: string) => Promise<unknown>, private readonly registered: () => Set<string>, intervalMs = 100) {
    this.loop = (async () => {
      while (this.running) {
        await this.poll().catch(() => undefined);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  /** Hosts (namespace/host) istiod holds now, with their endpoint addresses. */
  async current(): Promise<Map<string, string[]>> {
    const ses = await serviceEntries(this.debug);
    return new Map(ses.map((se) => [`${se.metadata.namespace}/${se.spec.hosts[0]}`, (se.spec.endpoints ?? []).map((e: { address: string }) => e.address).sort()]));
  }

  private async poll(): Promise<void> {
    const before = new Set(this.registered());
    const now = await this.current();
    const after = this.registered();
    this.polls++;
    for (const h of now.keys()) this.held.add(h);
    // Registered for the whole poll, held before, missing now: a live service istiod lost.
    for (const h of before) {
      if (after.has(h) && this.held.has(h) && !now.has(h)) this.violations.push(`${new Date().toISOString()} ${h} missing from istiod while registered`);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
