import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import {
  handle,
  holdsReadAt,
  initialDeciderState,
  type CollectorEvent,
  type DeciderState,
  type Observation,
} from '../../services/collector/decider.ts';
import type { ServiceState } from '../../services/collector/service-state.ts';
import { evolve } from '../../projection/evolve.ts';
import { emptyPartitionState, type PartitionState } from '../../projection/fold-state.ts';

/**
 * Interleavings of registry changes, watch deliveries, full re-reads and leader failovers, with the decider's events
 * folded by the real projector: no live service is ever deleted by a re-read's marker, and what was published always
 * converges to the normalisation of the registry. Keys 'A' and 'a' (and 'B'/'b') map to one mesh host, so collisions
 * are part of every run.
 *
 * Periodic re-reads take the ZooKeeper adapter's short cut: a stat of the key's version (its providers node's pzxid)
 * first, and a read only when the decider does not hold a read at that version. The stat and its verdict are separate
 * steps, so registry changes and watch reads land between them. Kafka can lose a publish, which the adapter reports to
 * the decider as unconfirmed, and a watch notification can be missed; the last periodic re-read must heal both.
 */
const KEYS = ['A', 'a', 'B', 'b', 'C'] as const;
const ADDRESSES = ['10.0.0.1', '10.0.0.2', '10.0.0.3'] as const;
const hostOf = (key: string) => `dubbo/${key.toLowerCase()}`;

type Op =
  | { op: 'set'; key: string; addrs: string[] }
  | { op: 'delete'; key: string }
  | { op: 'deliver'; i: number }
  | { op: 'resync-start'; periodic: boolean }
  | { op: 'resync-read'; i: number }
  | { op: 'resync-verdict'; i: number }
  | { op: 'lose-next-publish' }
  | { op: 'miss-watch'; i: number }
  | { op: 'resync-finish' }
  | { op: 'failover' };

const OPS: { [K in Op['op']]: [weight: number, fc.Arbitrary<Extract<Op, { op: K }>>] } = {
  set: [
    4,
    fc.record({
      op: fc.constant('set' as const),
      key: fc.constantFrom(...KEYS),
      addrs: fc.uniqueArray(fc.constantFrom(...ADDRESSES), { maxLength: 3 }),
    }),
  ],
  delete: [2, fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) })],
  deliver: [4, fc.record({ op: fc.constant('deliver' as const), i: fc.nat() })],
  'resync-start': [1, fc.record({ op: fc.constant('resync-start' as const), periodic: fc.boolean() })],
  'resync-read': [3, fc.record({ op: fc.constant('resync-read' as const), i: fc.nat() })],
  'resync-verdict': [2, fc.record({ op: fc.constant('resync-verdict' as const), i: fc.nat() })],
  'lose-next-publish': [1, fc.constant({ op: 'lose-next-publish' as const })],
  'miss-watch': [1, fc.record({ op: fc.constant('miss-watch' as const), i: fc.nat() })],
  'resync-finish': [1, fc.constant({ op: 'resync-finish' as const })],
  failover: [1, fc.constant({ op: 'failover' as const })],
};

/** Operations with these weights (the others as in OPS; 0 leaves one out). */
function ops(weights: Partial<Record<Op['op'], number>> = {}): fc.Arbitrary<Op> {
  return fc.oneof(
    ...Object.entries(OPS)
      .map(([op, [weight, arbitrary]]) => ({
        weight: weights[op as Op['op']] ?? weight,
        arbitrary: arbitrary as fc.Arbitrary<Op>,
      }))
      .filter((o) => o.weight > 0),
  );
}
const opArb = ops();

function stateOf(key: string, addrs: Set<string>): ServiceState {
  return {
    namespace: 'dubbo',
    host: key.toLowerCase(),
    registryService: key,
    ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
    instances: [...addrs].sort().map((address) => ({
      address,
      ports: { 'tcp-dubbo': 20880 },
      labels: { 'meshbridge.io/source': 'zk1' },
      weight: 0,
      locality: '',
    })),
    issues: [],
  };
}

class World {
  readonly registry = new Map<string, Set<string>>();
  /** Watch notifications fired and not yet handled (the key changed; the handler reads its current state). */
  pending: string[] = [];
  decider: DeciderState = initialDeciderState();
  epoch = 1;
  /** The registry's transaction counter, and each key's version: the counter at its last change (a pzxid). */
  zxid = 0;
  readonly version = new Map<string, number>();
  toRead: string[] | undefined;
  /** Whether the re-read in progress is periodic (stat first), and its stats whose verdict is not taken yet. */
  periodic = false;
  statted: { key: string; version: number | undefined }[] = [];
  loseNext = false;
  missedAny = false;
  readonly projector: PartitionState = emptyPartitionState();
  markers = 0;

  /** What the adapter does: read the key now and hand the observation to the decider; events go to the projector. */
  observe(o: Observation): CollectorEvent[] {
    const cfg = { emptyProtection: 'off', emitOrderToken: true } as const;
    const events = handle(this.decider, o, cfg);
    const lost: string[] = [];
    for (const e of events) {
      if (this.loseNext && e.type === 'host-published') {
        this.loseNext = false;
        this.missedAny = true;
        lost.push(e.hostKey);
      } else this.fold(e);
    }
    if (lost.length > 0) handle(this.decider, { type: 'unconfirmed', hosts: lost }, cfg);
    return events;
  }

  read(key: string): void {
    const addrs = this.registry.get(key);
    this.observe(
      addrs
        ? { type: 'present', key, state: stateOf(key, addrs), order: this.version.get(key)! }
        : { type: 'absent', key },
    );
  }

  /** A periodic re-read's verdict on a stat taken earlier: unchanged since the held read, or read it now. */
  verdict(c: { key: string; version: number | undefined }): void {
    if (c.version !== undefined && holdsReadAt(this.decider, c.key, c.version))
      this.observe({ type: 'unchanged', key: c.key });
    else this.read(c.key);
  }

  /** One step of the re-read in progress on a listed key: a read, or in a periodic re-read a stat. */
  step(key: string): void {
    if (this.periodic) this.statted.push({ key, version: this.registry.has(key) ? this.version.get(key) : undefined });
    else this.read(key);
  }

  private fold(e: CollectorEvent): void {
    const base = {
      eventId: 'e',
      sourceId: 'zk1',
      sourceKind: 'zookeeper-dubbo',
      collectorId: 'c',
      epoch: this.epoch,
      generation: 'g',
      observedAt: 1,
      ports: [],
      instances: [],
      issues: [],
      resyncServices: [],
      raw: null,
      registryService: '',
      orderToken: null,
    };
    let ev: RegistryEvent | undefined;
    if (e.type === 'host-published') {
      const s = e.publish.state;
      ev = {
        ...base,
        kind: 'SERVICE_STATE',
        namespace: s.namespace,
        host: s.host,
        registryService: s.registryService,
        orderToken: e.publish.token,
        ports: s.ports,
        instances: s.instances,
      };
    } else if (e.type === 'host-removed' && !e.byMarker) {
      ev = {
        ...base,
        kind: 'SERVICE_REMOVED',
        namespace: e.namespace,
        host: e.host,
        registryService: e.registryService,
        orderToken: e.token,
      };
    } else if (e.type === 'resync-ended') {
      ev = { ...base, kind: 'RESYNC_END', namespace: '', host: '', resyncServices: e.hosts };
    }
    if (!ev) return;
    const before = e.type === 'resync-ended' ? new Set(this.projector.services.keys()) : undefined;
    const r = evolve(this.projector, ev);
    assert.equal(r.ignored, undefined, `the projector ignored ${ev.kind} ${ev.host}: ${r.ignored}`);
    if (before) this.checkNoLiveServiceMissing(before);
  }

  /**
   * The first promise: right after a marker, every host with a registered key is in the projector — or, once a
   * publish was lost or a watch missed (the projector may not have the host until a later read), every such host
   * that was there before the marker still is: a marker never deletes a live service.
   */
  private checkNoLiveServiceMissing(before: Set<string>): void {
    this.markers++;
    for (const key of this.registry.keys()) {
      if (this.missedAny && !before.has(hostOf(key))) continue;
      assert.ok(
        this.projector.services.get(hostOf(key))?.sources.zk1,
        `marker ${this.markers} deleted live ${hostOf(key)} (key ${key} registered)`,
      );
    }
  }

  apply(op: Op): void {
    switch (op.op) {
      case 'set':
        this.registry.set(op.key, new Set(op.addrs));
        this.version.set(op.key, ++this.zxid);
        this.pending.push(op.key);
        return;
      case 'delete':
        if (this.registry.delete(op.key)) {
          this.version.set(op.key, ++this.zxid);
          this.pending.push(op.key);
        }
        return;
      case 'deliver': {
        if (this.pending.length === 0) return;
        const [key] = this.pending.splice(op.i % this.pending.length, 1);
        this.read(key!);
        return;
      }
      case 'resync-start':
        if (this.toRead) return;
        this.observe({ type: 'resync-started' });
        this.toRead = [...this.registry.keys()].sort();
        this.periodic = op.periodic;
        return;
      case 'resync-read': {
        if (!this.toRead || this.toRead.length === 0) return;
        const [key] = this.toRead.splice(op.i % this.toRead.length, 1);
        this.step(key!);
        return;
      }
      case 'resync-verdict': {
        if (this.statted.length === 0) return;
        const [c] = this.statted.splice(op.i % this.statted.length, 1);
        this.verdict(c!);
        return;
      }
      case 'lose-next-publish':
        this.loseNext = true;
        return;
      case 'miss-watch':
        // A notification that never becomes a read (what the periodic re-read is the safety net for).
        if (this.pending.length === 0) return;
        this.pending.splice(op.i % this.pending.length, 1);
        this.missedAny = true;
        return;
      case 'resync-finish':
        this.finish();
        return;
      case 'failover':
        // The leader dies with its watches and pending reads; the standby starts fresh, with a full re-read.
        this.decider = initialDeciderState();
        this.epoch++;
        this.pending = [];
        this.toRead = undefined;
        this.statted = [];
        this.apply({ op: 'resync-start', periodic: false });
        return;
    }
  }

  /** Ends the re-read in progress as the adapters do: remaining listed keys, then notifications already fired. */
  finish(): void {
    if (!this.toRead) return;
    for (const key of this.toRead.splice(0)) this.step(key);
    for (const c of this.statted.splice(0)) this.verdict(c);
    for (const key of this.pending.splice(0)) this.read(key);
    this.toRead = undefined;
    this.observe({ type: 'resync-finished' });
  }

  /** host -> sorted addresses the registry implies (the union over its keys). */
  expected(): Record<string, string[]> {
    const out: Record<string, Set<string>> = {};
    for (const key of this.registry.keys()) out[hostOf(key)] ??= new Set();
    for (const [key, addrs] of this.registry) for (const a of addrs) out[hostOf(key)]!.add(a);
    return Object.fromEntries(
      Object.entries(out)
        .map(([h, s]) => [h, [...s].sort()])
        .sort(),
    );
  }

  projected(): Record<string, string[]> {
    return Object.fromEntries(
      [...this.projector.services.entries()]
        .map(([h, f]) => [h, (f.sources.zk1?.instances ?? []).map((i) => i.address).sort()] as const)
        .sort(),
    );
  }
}

describe('collector decider + projector over interleavings (fast-check)', () => {
  it('no marker ever deletes a registered service, and the mesh converges to the registry', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const w = new World();
        w.apply({ op: 'resync-start', periodic: false });
        for (const op of ops) w.apply(op);
        // Quiesce: every notification handled, then one last periodic re-read (the short cut, which must also publish
        // again what Kafka lost) with Kafka healthy.
        w.loseNext = false;
        w.finish();
        for (const key of w.pending.splice(0)) w.read(key);
        w.apply({ op: 'resync-start', periodic: true });
        w.finish();
        assert.deepEqual(w.projected(), w.expected());
      }),
      { numRuns: 600 },
    );
  });

  it('periodic re-reads (stat first) heal missed watches and lost publishes, and never delete a live service', () => {
    // Changes with missed notifications and lost publishes, then periodic passes only: what the short cut must catch
    // is a key whose version moved while its watch was missed (a mutation that trusts any held read fails this).
    const lossy = ops({ 'miss-watch': 4, 'lose-next-publish': 2, 'resync-start': 2, failover: 0, delete: 1 });
    fc.assert(
      fc.property(fc.array(lossy, { maxLength: 40 }), (list) => {
        const w = new World();
        w.apply({ op: 'resync-start', periodic: false });
        w.finish();
        for (const op of list) w.apply(op.op === 'resync-start' ? { ...op, periodic: true } : op);
        w.loseNext = false;
        w.finish();
        w.pending = []; // every notification still pending is missed too: only the periodic re-read is left
        w.apply({ op: 'resync-start', periodic: true });
        w.finish();
        assert.deepEqual(w.projected(), w.expected());
      }),
      { numRuns: 500 },
    );
  });

  it('without re-reads, handled notifications alone keep the mesh equal to the registry', () => {
    fc.assert(
      fc.property(
        fc.array(
          opArb.filter((o) => o.op === 'set' || o.op === 'delete' || o.op === 'deliver'),
          { maxLength: 40 },
        ),
        (ops) => {
          const w = new World();
          w.apply({ op: 'resync-start', periodic: false });
          w.finish();
          for (const op of ops) w.apply(op);
          for (const key of w.pending.splice(0)) w.read(key);
          assert.deepEqual(w.projected(), w.expected());
        },
      ),
      { numRuns: 300 },
    );
  });
});
