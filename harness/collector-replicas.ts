import { getJson, type Pipeline } from './stack.ts';
import { freePort } from './ports.ts';
import type { ManagedProcess } from './process.ts';
import { waitFor } from './wait.ts';

export interface Replica {
  id: string;
  port: number;
  proc: ManagedProcess;
}
export interface SourceStatus {
  leading: boolean;
  epoch: number | null;
  connected: boolean;
  resynced: boolean;
}

/** Collector replicas of one pipeline, each its own process with its own id and ops port (HA tests). */
export class CollectorReplicas {
  readonly all: Replica[] = [];
  constructor(
    private readonly mb: Pipeline,
    private readonly sourceId: string,
  ) {}

  async start(id: string): Promise<Replica> {
    const port = await freePort();
    const proc = await this.mb.start('collector', {
      name: `collector-${id}`,
      env: { MESHBRIDGE_COLLECTOR_ID: id, MESHBRIDGE_COLLECTOR_HTTP_PORT: String(port) },
    });
    const r = { id, port, proc };
    this.all.push(r);
    return r;
  }

  /** The replica's view of the source (from its /readyz), undefined while it does not answer. */
  async status(r: Replica): Promise<SourceStatus | undefined> {
    try {
      return (await getJson(`http://127.0.0.1:${r.port}/readyz`)).body.detail?.[this.sourceId];
    } catch {
      return undefined;
    }
  }

  /** The running replica that leads the source and has finished its first full re-read. */
  leader(opts: { except?: Replica; timeoutMs?: number } = {}): Promise<Replica> {
    return waitFor(
      async () => {
        for (const r of this.all) {
          if (r === opts.except || !r.proc.running) continue;
          const s = await this.status(r);
          if (s?.leading && s.resynced) return r;
        }
        return undefined;
      },
      {
        what: `a leading, resynced collector for ${this.sourceId}`,
        timeoutMs: opts.timeoutMs ?? 20_000,
        intervalMs: 50,
      },
    );
  }

  async stopAll(): Promise<void> {
    for (const r of this.all) r.proc.signal('SIGCONT');
    await Promise.all(this.all.map((r) => r.proc.stop()));
  }
}
