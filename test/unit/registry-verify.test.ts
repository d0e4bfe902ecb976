import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceSpec, RegistryEvent, ServicePortSpec } from '../../schemas/registry-event.ts';
import { handle, initialDeciderState } from '../../services/collector/decider.ts';
import type { ServiceState } from '../../services/collector/service-state.ts';
import { buildServiceEntry } from '../../projection/build-service-entry.ts';
import { encodeServiceEntryAny } from '../../schemas/service-entry/encode.ts';
import { evolve } from '../../projection/evolve.ts';
import { emptyPartitionState } from '../../projection/fold-state.ts';
import { Replay } from '../../projection/replay.ts';
import { publishedHosts } from '../../services/collector/registry-read.ts';
import {
  compareWithMesh,
  liveEntriesOf,
  liveEntryOf,
  verifyWithSettle,
  type Comparison,
  type HostDifference,
  type LiveMesh,
} from '../../services/audit/registry-verify.ts';
import type { ExpectedHost, RegistryRead } from '../../schemas/registry-read.ts';
import { formatRegistryVerify } from '../../services/audit/format-text.ts';

const PORT: ServicePortSpec = { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' };
const inst = (source: string, address: string, labels: Record<string, string> = {}): InstanceSpec => ({
  address,
  ports: { 'tcp-dubbo': 20880 },
  labels: { 'meshbridge.io/source': source, ...labels },
  weight: 0,
  locality: '',
});
const host = (name: string, instances: InstanceSpec[], ports = [PORT]): ExpectedHost => ({
  namespace: 'dubbo',
  host: name,
  registryService: `iface.${name}`,
  ports,
  instances,
});

const registry = (
  sourceId: string,
  hosts: ExpectedHost[],
  emptyProtection: 'off' | 'keep-last' = 'off',
): RegistryRead => ({
  sourceId,
  kind: 'zookeeper-dubbo',
  emptyProtection,
  registryServices: hosts.length,
  hosts: new Map(hosts.map((h) => [`${h.namespace}/${h.host}`, h])),
});

let n = 0;
const event = (sourceId: string, h: ExpectedHost, over: Partial<RegistryEvent> = {}): RegistryEvent => ({
  eventId: `e${++n}`,
  kind: 'SERVICE_STATE',
  sourceId,
  sourceKind: 'zookeeper-dubbo',
  collectorId: 'c',
  epoch: 7,
  generation: 'g',
  observedAt: 1_700_000_000_000,
  namespace: h.namespace,
  host: h.host,
  registryService: h.registryService,
  orderToken: null,
  ports: h.ports,
  instances: h.instances,
  issues: [],
  resyncServices: [],
  raw: null,
  ...over,
});

/** The live snapshot the real projector rules make of these events: its fold and the ServiceEntries built from it. */
function meshOf(events: RegistryEvent[]): LiveMesh {
  const state = emptyPartitionState();
  for (const e of events) evolve(state, e);
  const entries = new Map<string, ReturnType<typeof liveEntryOf>>();
  for (const [key, fold] of state.services) {
    if (!Object.values(fold.sources).some((c) => c.ports.length > 0)) continue;
    const built = buildServiceEntry(fold);
    assert.ok(built.ok);
    entries.set(key, liveEntryOf(encodeServiceEntryAny(built.value.meta, built.value.body)));
  }
  return {
    version: 9,
    lineage: 'l',
    complete: true,
    entries,
    folds: new Map([...state.services].map(([k, v]) => [k, structuredClone(v)])),
  };
}

const only = (c: Comparison): HostDifference => {
  assert.equal(c.differences.length, 1, JSON.stringify(c.differences, null, 2));
  return c.differences[0]!;
};

describe('verify --registry: comparison of a registry with the live mesh', () => {
  const a = host('svc.a', [inst('zk1', '10.0.0.1'), inst('zk1', '10.0.0.2', { version: '1' })]);
  const b = host('svc.b', [inst('zk1', '10.0.1.1')]);

  it('equal when the mesh holds what the registry holds', () => {
    const c = compareWithMesh([registry('zk1', [a, b])], meshOf([event('zk1', a), event('zk1', b)]));
    assert.deepEqual(c.differences, []);
    assert.deepEqual(c.sources, [
      {
        id: 'zk1',
        kind: 'zookeeper-dubbo',
        registryServices: 2,
        registryHosts: 2,
        registryEndpoints: 3,
        meshHosts: 2,
        meshEndpoints: 3,
      },
    ]);
  });

  it('a live service deleted from the snapshot (ServiceEntry and fold) is missing in the mesh, with its registered endpoints', () => {
    const live = meshOf([event('zk1', a), event('zk1', b)]);
    live.entries.delete('dubbo/svc.b');
    live.folds.delete('dubbo/svc.b');
    const d = only(compareWithMesh([registry('zk1', [a, b])], live));
    assert.equal(d.what, 'missing-in-mesh');
    assert.equal(d.host, 'dubbo/svc.b');
    assert.equal(d.registryService, 'iface.svc.b');
    assert.deepEqual(
      d.missingEndpoints.map((e) => e.address),
      ['10.0.1.1'],
    );
    assert.equal(d.fold, 'missing');
  });

  it('a deletion by a resync marker in the log (what verify against the topic cannot see) is missing in the mesh', () => {
    const live = meshOf([
      event('zk1', a),
      event('zk1', b),
      event('zk1', a, { kind: 'RESYNC_END', namespace: '', host: '', resyncServices: ['dubbo/svc.a'] }),
    ]);
    assert.ok(!live.entries.has('dubbo/svc.b'));
    assert.equal(only(compareWithMesh([registry('zk1', [a, b])], live)).what, 'missing-in-mesh');
  });

  it('a ServiceEntry removed while the fold still has it is missing in the mesh; the fold alone is not flagged', () => {
    const live = meshOf([event('zk1', a), event('zk1', b)]);
    live.entries.delete('dubbo/svc.a');
    const d = only(compareWithMesh([registry('zk1', [a, b])], live));
    assert.equal(d.what, 'missing-in-mesh');
    assert.equal(d.fold, undefined);
  });

  it('a host the registry no longer has is extra in the mesh', () => {
    const gone = host('svc.gone', [inst('zk1', '10.0.9.9')]);
    const d = only(compareWithMesh([registry('zk1', [a])], meshOf([event('zk1', a), event('zk1', gone)])));
    assert.equal(d.what, 'extra-in-mesh');
    assert.equal(d.host, 'dubbo/svc.gone');
    assert.deepEqual(
      d.extraEndpoints.map((e) => e.address),
      ['10.0.9.9'],
    );
    assert.equal(d.fold, 'extra');
  });

  it('endpoints that differ: registered but not served, served but not registered, other labels', () => {
    const inMesh = host('svc.a', [inst('zk1', '10.0.0.2', { version: '1' }), inst('zk1', '10.0.0.3')]);
    const inRegistry = host('svc.a', [inst('zk1', '10.0.0.1'), inst('zk1', '10.0.0.2', { version: '2' })]);
    const d = only(compareWithMesh([registry('zk1', [inRegistry])], meshOf([event('zk1', inMesh)])));
    assert.equal(d.what, 'differs');
    assert.deepEqual(
      d.missingEndpoints.map((e) => e.address),
      ['10.0.0.1'],
    );
    assert.deepEqual(
      d.extraEndpoints.map((e) => e.address),
      ['10.0.0.3'],
    );
    assert.deepEqual(d.changedEndpoints, [
      { endpoint: '10.0.0.2 tcp-dubbo=20880', changes: { 'label version': ['2', '1'] } },
    ]);
    assert.equal(d.fold, 'differs');
    assert.equal(d.ports, undefined);
  });

  it('a different service port is reported with both sides', () => {
    const moved = host(
      'svc.b',
      [{ ...inst('zk1', '10.0.1.1'), ports: { 'tcp-dubbo': 20881 } }],
      [{ ...PORT, number: 20881 }],
    );
    const d = only(compareWithMesh([registry('zk1', [moved])], meshOf([event('zk1', b)])));
    assert.deepEqual(d.ports, { registry: ['tcp-dubbo:20881/TCP'], mesh: ['tcp-dubbo:20880/TCP'] });
    assert.equal(d.missingEndpoints.length, 1);
    assert.equal(d.extraEndpoints.length, 1);
  });

  it("other sources feeding the same host are not this source's business", () => {
    const shared = host('svc.shared', [inst('zk1', '10.0.2.1')]);
    const other = host('svc.shared', [inst('consul-a', '10.0.3.1'), inst('consul-a', '10.0.3.2')]);
    const live = meshOf([event('zk1', shared), event('consul-a', other)]);
    assert.deepEqual(compareWithMesh([registry('zk1', [shared])], live).differences, []);
    assert.deepEqual(compareWithMesh([registry('zk1', [shared])], live).unconfigured, { 'consul-a': 1 });
    // This source's contribution gone from the shared host: missing for this source, though the ServiceEntry exists.
    const without = meshOf([event('consul-a', other)]);
    const d = only(compareWithMesh([registry('zk1', [shared])], without));
    assert.equal(d.what, 'missing-in-mesh');
    assert.deepEqual(
      d.missingEndpoints.map((e) => e.address),
      ['10.0.2.1'],
    );
  });

  it("a service whose last provider left keeps its ports in the mesh (the projector's rule): equal", () => {
    const empty = host('svc.b', [], []);
    const live = meshOf([event('zk1', b), event('zk1', empty)]);
    assert.equal(live.entries.get('dubbo/svc.b')!.endpoints.length, 0);
    assert.deepEqual(compareWithMesh([registry('zk1', [empty])], live).differences, []);
    // and one that never had a provider has no ServiceEntry at all: equal too
    const never = host('svc.never', [], []);
    assert.deepEqual(compareWithMesh([registry('zk1', [never])], meshOf([event('zk1', never)])).differences, []);
  });

  it('emptyProtection keep-last: an emptied service whose endpoints the mesh keeps is held, not a difference', () => {
    const emptied = host('svc.a', [], []);
    const live = meshOf([event('zk1', a)]);
    const held = compareWithMesh([registry('zk1', [emptied], 'keep-last')], live);
    assert.deepEqual(held.differences, []);
    assert.deepEqual(held.held, [{ source: 'zk1', host: 'dubbo/svc.a', meshEndpoints: 2 }]);
    const off = only(compareWithMesh([registry('zk1', [emptied], 'off')], live));
    assert.deepEqual(
      off.extraEndpoints.map((e) => e.address),
      ['10.0.0.1', '10.0.0.2'],
    );
  });

  it("the projector's stored fold differing while the served ServiceEntry agrees is a difference", () => {
    const live = meshOf([event('zk1', a)]);
    live.folds.get('dubbo/svc.a')!.sources.zk1!.instances.pop();
    const d = only(compareWithMesh([registry('zk1', [a])], live));
    assert.equal(d.what, 'differs');
    assert.equal(d.fold, 'differs');
    assert.deepEqual([d.missingEndpoints, d.extraEndpoints, d.changedEndpoints], [[], [], []]);
  });

  it('label order and default fields never make a difference', () => {
    const live = meshOf([event('zk1', host('svc.a', [inst('zk1', '10.0.0.1', { b: '2', a: '1' })]))]);
    assert.deepEqual(
      compareWithMesh([registry('zk1', [host('svc.a', [inst('zk1', '10.0.0.1', { a: '1', b: '2' })])])], live)
        .differences,
      [],
    );
  });

  it('what the collector publishes: colliding registry keys merged into one host', () => {
    const state = initialDeciderState();
    const s = (key: string, address: string): ServiceState => ({
      namespace: 'dubbo',
      host: 'com.example.outer-innerapi',
      registryService: key,
      ports: [PORT],
      instances: [inst('zk1', address)],
      issues: [],
    });
    handle(
      state,
      {
        type: 'present',
        key: 'com.example.Outer$InnerAPI',
        state: s('com.example.Outer$InnerAPI', '10.0.0.1'),
        order: 1,
      },
      { emptyProtection: 'off', emitOrderToken: true },
    );
    handle(
      state,
      {
        type: 'present',
        key: 'com.example.outer$innerapi',
        state: s('com.example.outer$innerapi', '10.0.0.2'),
        order: 2,
      },
      { emptyProtection: 'off', emitOrderToken: true },
    );
    const hosts = publishedHosts(state);
    assert.deepEqual([...hosts.keys()], ['dubbo/com.example.outer-innerapi']);
    const h = hosts.get('dubbo/com.example.outer-innerapi')!;
    assert.deepEqual(
      h.instances.map((i) => i.address),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.equal(h.registryService, 'com.example.Outer$InnerAPI,com.example.outer$innerapi');
  });
});

describe('verify --registry: the settle rule', () => {
  const comparison = (...differences: Partial<HostDifference>[]): Comparison => ({
    differences: differences.map((d) => ({
      source: 'zk1',
      host: 'dubbo/x',
      what: 'differs',
      missingEndpoints: [],
      extraEndpoints: [],
      changedEndpoints: [],
      notes: [],
      ...d,
    })),
    held: [],
    sources: [],
    unconfigured: {},
  });
  const scripted = (rounds: Comparison[]) => {
    let i = 0;
    return async () => rounds[Math.min(i++, rounds.length - 1)]!;
  };
  const sleeps: number[] = [];
  const opts = {
    rounds: 3,
    settleMs: 1500,
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
  };
  const ep = (address: string) => ({
    address,
    ports: { 'tcp-dubbo': 20880 },
    labels: { 'meshbridge.io/source': 'zk1' },
  });

  it('equal at once: one round, no pause', async () => {
    sleeps.length = 0;
    const o = await verifyWithSettle(scripted([comparison()]), opts);
    assert.deepEqual([o.equal, o.rounds, sleeps], [true, 1, []]);
  });

  it('a change in flight (differs in round 1, not in round 2) is not reported', async () => {
    sleeps.length = 0;
    const o = await verifyWithSettle(
      scripted([comparison({ host: 'dubbo/new', what: 'missing-in-mesh' }), comparison()]),
      opts,
    );
    assert.deepEqual([o.equal, o.rounds, o.settled, sleeps], [true, 2, ['zk1|dubbo/new'], [1500]]);
  });

  it('a difference present in every round is reported, as the last round saw it', async () => {
    const gone = comparison({ host: 'dubbo/gone', what: 'missing-in-mesh', missingEndpoints: [ep('10.0.0.1')] });
    const o = await verifyWithSettle(scripted([gone, gone, gone]), opts);
    assert.equal(o.equal, false);
    assert.equal(o.rounds, 3);
    assert.deepEqual(
      o.differences.map((d) => [d.host, d.what]),
      [['dubbo/gone', 'missing-in-mesh']],
    );
  });

  it('under churn, only the items that persist count: endpoints coming and going are in flight, a stuck one is not', async () => {
    const o = await verifyWithSettle(
      scripted([
        comparison({ missingEndpoints: [ep('10.0.0.1')], extraEndpoints: [ep('10.9.9.9')] }),
        comparison({ missingEndpoints: [ep('10.0.0.2')], extraEndpoints: [ep('10.9.9.9')] }),
        comparison({ missingEndpoints: [ep('10.0.0.3')], extraEndpoints: [ep('10.9.9.9')] }),
      ]),
      opts,
    );
    assert.equal(o.equal, false);
    assert.deepEqual(
      o.differences.map((d) => [d.missingEndpoints.length, d.extraEndpoints.map((e) => e.address)]),
      [[0, ['10.9.9.9']]],
    );
    const churn = await verifyWithSettle(
      scripted([
        comparison({ missingEndpoints: [ep('10.0.0.1')] }),
        comparison({ missingEndpoints: [ep('10.0.0.2')] }),
        comparison({ missingEndpoints: [ep('10.0.0.3')] }),
      ]),
      opts,
    );
    assert.deepEqual([churn.equal, churn.rounds], [true, 2]);
  });

  it('text output names each host and what differs', async () => {
    const live = meshOf([event('zk1', host('svc.a', [inst('zk1', '10.0.0.1')]))]);
    const reg = registry('zk1', [host('svc.a', [inst('zk1', '10.0.0.1')]), host('svc.b', [inst('zk1', '10.0.1.1')])]);
    const o = await verifyWithSettle(async () => compareWithMesh([reg], live), {
      ...opts,
      sleep: async () => undefined,
    });
    const text = formatRegistryVerify(o, ['context line'], 3.2);
    assert.match(
      text,
      /^context line\nMISMATCH: 1 mesh host differs from the registry in every round \(3 rounds 1.5 s apart, 3.2 s\): 1 missing in the mesh/,
    );
    assert.match(text, /- dubbo\/svc.b \(source zk1, registry service iface.svc.b\): MISSING in the mesh/);
    assert.match(text, /- endpoint 10.0.1.1 tcp-dubbo=20880 \{meshbridge.io\/source=zk1\} {2}\(registered\)/);
  });
});

describe('verify --registry: a host split by port', () => {
  const TRI: ServicePortSpec = { name: 'tcp-tri', number: 50051, protocol: 'TCP' };
  const both = (address: string) => ({ ...inst('zk1', address), ports: { 'tcp-dubbo': 20880, 'tcp-tri': 50051 } });
  const h = host('svc.s', [both('10.0.0.1'), inst('zk1', '10.0.0.2')], [PORT, TRI]);

  /** The live snapshot as the projector stores it (Replay: fold, split, encode), read as verify reads Redis. */
  function splitMesh(events: RegistryEvent[]): LiveMesh {
    const r = new Replay();
    r.apply(0, events);
    assert.ok(r.resources.has('ServiceEntry|dubbo/svc.s~*'), 'the host is split');
    return {
      version: 9,
      lineage: 'l',
      complete: true,
      entries: liveEntriesOf(r.resources),
      folds: new Map([...r.partitions.get(0)!.services].map(([k, v]) => [k, structuredClone(v)])),
    };
  }

  it('is compared as one host: equal to the registry, endpoints counted once', () => {
    const c = compareWithMesh([registry('zk1', [h])], splitMesh([event('zk1', h)]));
    assert.deepEqual(c.differences, []);
    assert.equal(c.sources[0]!.meshEndpoints, 2);
  });

  it('reports a provider the mesh lists under a port it no longer serves in the registry', () => {
    const now = host('svc.s', [both('10.0.0.1'), { ...both('10.0.0.2'), ports: { 'tcp-tri': 50051 } }], [PORT, TRI]);
    const d = only(compareWithMesh([registry('zk1', [now])], splitMesh([event('zk1', h)])));
    assert.equal(d.what, 'differs');
    assert.deepEqual(
      d.missingEndpoints.map((e) => [e.address, e.ports]),
      [['10.0.0.2', { 'tcp-tri': 50051 }]],
    );
    assert.deepEqual(
      d.extraEndpoints.map((e) => [e.address, e.ports]),
      [['10.0.0.2', { 'tcp-dubbo': 20880 }]],
    );
  });
});
