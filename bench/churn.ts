/**
 * What the churning benchmarks share: the addresses they register, the pace of their changes, which provider a change
 * adds or removes, and the time from a registry change until Kafka holds an event that reflects it.
 */
import type { TailedEvent } from '../harness/event-tail.ts';
import type { RegistryEvent } from '../schemas/registry-event.ts';
import { waitFor } from '../harness/wait.ts';
import { latencySummary } from './support.ts';

/** Distinct IPv4 addresses from 10.100.0.0 upwards, one per call: the same sequence in every benchmark. */
export function addressSequence(): () => string {
  let seq = 0;
  return () => {
    const n = seq++;
    return `10.${100 + ((n >> 16) & 0x7f)}.${(n >> 8) & 0xff}.${n & 0xff}`;
  };
}

/**
 * Runs `each(0 … total - 1)`, the k-th due k / rate seconds after the start (awaiting what `each` returns before the
 * next: return nothing to issue without waiting). Returns how many changes began over 100 ms late (the benchmark's own
 * process could not keep the pace).
 */
export async function paced(
  rate: number,
  total: number,
  each: (k: number) => void | Promise<void>,
): Promise<{ lateStarts: number }> {
  const startedAt = performance.now();
  let lateStarts = 0;
  for (let k = 0; k < total; k++) {
    const wait = startedAt + (k * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (wait < -100) lateStarts++;
    await each(k);
  }
  return { lateStarts };
}

/**
 * One change to a service's providers, applied to `list`: half the time (while more than half of `instances` are
 * left) the removal of a provider registered at least 5 s ago, otherwise a new one. Only those are removed because an
 * add and a remove of one provider inside one push would never be visible to the sidecar, and could not be timed.
 */
export function providerChange(
  list: string[],
  addedAt: Map<string, number>,
  instances: number,
  nextAddress: () => string,
): { address: string; remove: boolean } {
  const removable = list.filter((a) => (addedAt.get(a) ?? 0) < Date.now() - 5_000);
  const remove = list.length > instances / 2 && removable.length > 0 && Math.random() < 0.5;
  const address = remove ? removable[Math.floor(Math.random() * removable.length)]! : nextAddress();
  if (remove) list.splice(list.indexOf(address), 1);
  else {
    list.push(address);
    addedAt.set(address, Date.now());
  }
  return { address, remove };
}

interface Expected {
  /** When the registry acknowledged the change, and when it was issued. */
  at: number;
  issuedAt: number;
  /** The service's instances after the change, as `instanceKey` writes them, sorted and joined. */
  set: string;
}

/**
 * Times registry changes to Kafka: the broker's append time of the first SERVICE_STATE event of the service whose
 * instance set is the one expected after a change, minus the change's time. An event that reflects a later change
 * resolves every earlier one of that service too (the collector coalesced them).
 */
export class KafkaArrivals {
  /** From the registry's acknowledgement, and from the moment the write was issued. */
  readonly latencies: number[] = [];
  readonly fromIssued: number[] = [];
  private readonly pending = new Map<string, Expected[]>();
  private seen = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly tail: { readonly events: readonly TailedEvent[] },
    private readonly instanceKey: (x: RegistryEvent['instances'][number]) => string = (x) => x.address,
  ) {
    // The tail's own array grows as events arrive: poll it.
    this.timer = setInterval(() => this.resolve(), 5);
  }

  /** A change to `host` that leaves it with `instances` (keys as `instanceKey` writes them). */
  expect(host: string, instances: readonly string[], at = Date.now(), issuedAt = at): void {
    const l = this.pending.get(host) ?? [];
    l.push({ at, issuedAt, set: [...instances].sort().join(',') });
    this.pending.set(host, l);
  }

  /** Changes no event has reflected yet. */
  get unresolved(): number {
    let n = 0;
    for (const l of this.pending.values()) n += l.length;
    return n;
  }

  /** The unresolved changes: host, when, and the instance set expected. */
  waiting(): { host: string; at: number; set: string }[] {
    return [...this.pending].flatMap(([host, l]) => l.map((e) => ({ host, at: e.at, set: e.set })));
  }

  /** Waits up to `timeoutMs` for every change to be resolved (logging how many were not), then stops following. */
  async settle(timeoutMs: number, log: (m: string) => void): Promise<void> {
    await waitFor(() => this.unresolved === 0, {
      what: 'every change to reach Kafka',
      timeoutMs,
      intervalMs: 50,
    }).catch(() => log(`unresolved changes: ${this.unresolved}`));
    this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Latency summaries (n, p50, p90, p99, max) from the acknowledgement and from the issue. */
  summary() {
    return { fromAck: latencySummary(this.latencies), fromIssued: latencySummary(this.fromIssued) };
  }

  private resolve(): void {
    for (; this.seen < this.tail.events.length; this.seen++) {
      const { event, appendedAt } = this.tail.events[this.seen]!;
      if (event.kind !== 'SERVICE_STATE') continue;
      const list = this.pending.get(event.host);
      if (!list?.length) continue;
      const set = event.instances.map(this.instanceKey).sort().join(',');
      const idx = list.map((p) => p.set).lastIndexOf(set);
      if (idx < 0) continue;
      for (const p of list.splice(0, idx + 1)) {
        this.latencies.push(appendedAt - p.at);
        this.fromIssued.push(appendedAt - p.issuedAt);
      }
    }
  }
}

/** What classifyUnreached reads of a benchmark's change: `sidecar` is when the sidecar showed it. */
export interface UnreachedChange {
  address: string;
  kind: 'add' | 'remove';
  issuedAt: number;
  sidecar?: number;
}

/** Changes the sidecar never showed, by why: `coalesced` ones are pairs, `lost` ones are not explained. */
export interface Unreached {
  coalesced: number;
  lost: number;
}

/**
 * Sorts the changes the sidecar never showed. EDS is state of the world: when a provider is added and removed again
 * before istiod's next push to the sidecar reaches it, the sidecar goes from a state without it to a state without it,
 * and neither change can be seen. `providerChange` removes only providers registered 5 s earlier, but when istiod
 * falls that far behind (a long garbage collection at 50,000 services) such pairs happen: both count as coalesced.
 * Any other unseen change is lost, the failure the benchmark is there to catch.
 */
export function classifyUnreached<C extends UnreachedChange>(
  changes: readonly C[],
  serviceOf: (c: C) => string,
): Unreached {
  // service|address -> the unseen add and removal of that provider (addresses are never reused, so one of each).
  const unseen = new Map<string, { add?: number; remove?: number; n: number }>();
  for (const c of changes) {
    if (c.sidecar !== undefined) continue;
    const key = `${serviceOf(c)}|${c.address}`;
    const u = unseen.get(key) ?? { n: 0 };
    u[c.kind] = c.issuedAt;
    u.n++;
    unseen.set(key, u);
  }
  let coalesced = 0;
  let lost = 0;
  for (const u of unseen.values()) {
    const pair = u.n === 2 && u.add !== undefined && u.remove !== undefined && u.add <= u.remove;
    if (pair) coalesced += 2;
    else lost += u.n;
  }
  return { coalesced, lost };
}
