import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import {
  handle,
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
 */
const KEYS = ['A', 'a', 'B', 'b', 'C'] as const;
const ADDRESSES = ['10.0.0.1', '10.0.0.2', '10.0.0.3'] as const;
const hostOf = (key: string) => `dubbo/${key.toLowerCase()}`;

type Op =
  | { op: 'set'; key: string; addrs: string[] }
  | { op: 'delete'; key: string }
  | { op: 'deliver'; i: number }
  | { op: 'resync-start' }
  | { op: 'resync-read'; i: number }
  | { op: 'resync-finish' }
  | { op: 'failover' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      key: fc.constantFrom(...KEYS),
      addrs: fc.uniqueArray(fc.constantFrom(...ADDRESSES), { maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('deliver' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ op: 'resync-start' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('resync-read' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ op: 'resync-finish' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'failover' as const }) },
);

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
  order = 0;
  toRead: string[] | undefined;
  readonly projector: PartitionState = emptyPartitionState();
  markers = 0;

  /** What the adapter does: read the key now and hand the observation to the decider; events go to the projector. */
  observe(o: Observation): CollectorEvent[] {
    const events = handle(this.decider, o, { emptyProtection: 'off', emitOrderToken: true });
    for (const e of events) this.fold(e);
    return events;
  }

  read(key: string): void {
    const addrs = this.registry.get(key);
    this.observe(
      addrs ? { type: 'present', key, state: stateOf(key, addrs), order: ++this.order } : { type: 'absent', key },
    );
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
    const r = evolve(this.projector, ev);
    assert.equal(r.ignored, undefined, `the projector ignored ${ev.kind} ${ev.host}: ${r.ignored}`);
    if (e.type === 'resync-ended') this.checkNoLiveServiceMissing();
  }

  /** The first promise: right after a marker, every host with a registered key is in the projector. */
  private checkNoLiveServiceMissing(): void {
    this.markers++;
    for (const key of this.registry.keys()) {
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
        this.pending.push(op.key);
        return;
      case 'delete':
        if (this.registry.delete(op.key)) this.pending.push(op.key);
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
        return;
      case 'resync-read': {
        if (!this.toRead || this.toRead.length === 0) return;
        const [key] = this.toRead.splice(op.i % this.toRead.length, 1);
        this.read(key!);
        return;
      }
      case 'resync-finish':
        this.finish();
        return;
      case 'failover':
        // The leader dies with its watches and pending reads; the standby starts fresh, with a full re-read.
        this.decider = initialDeciderState();
        this.epoch++;
        this.pending = [];
        this.toRead = undefined;
        this.apply({ op: 'resync-start' });
        return;
    }
  }

  /** Ends the re-read in progress as the adapters do: remaining listed keys, then notifications already fired. */
  finish(): void {
    if (!this.toRead) return;
    for (const key of this.toRead.splice(0)) this.read(key);
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
        w.apply({ op: 'resync-start' });
        for (const op of ops) w.apply(op);
        // Quiesce: every notification handled, one last complete re-read.
        w.finish();
        for (const key of w.pending.splice(0)) w.read(key);
        w.apply({ op: 'resync-start' });
        w.finish();
        assert.deepEqual(w.projected(), w.expected());
      }),
      { numRuns: 400 },
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
          w.apply({ op: 'resync-start' });
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
