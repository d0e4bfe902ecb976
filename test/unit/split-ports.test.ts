import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceSpec, RegistryEvent } from '../../schemas/registry-event.ts';
import { Replay } from '../../projection/replay.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import { hostEntryName, hostEntryNames } from '../../schemas/port-entry-name.ts';
import { shardOf } from '../../services/xds-gateway/shard.ts';
import { endpointPortsAsIstiodReads } from '../../schemas/service-entry/endpoint-ports.ts';

// A Dubbo interface served over two protocols: `tcp-dubbo` on 20880 and `tcp-tri` on 50051. A provider that serves
// only one of them must be listed by istiod under that port only.
const DUBBO = { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' };
const TRI = { name: 'tcp-tri', number: 50051, protocol: 'TCP' };

const provider = (address: string, ...ports: (typeof DUBBO)[]): InstanceSpec => ({
  address,
  ports: Object.fromEntries(ports.map((p) => [p.name, p.number])),
  labels: { 'meshbridge.io/source': 'zk1' },
  weight: 0,
  locality: '',
});

let at = 1_700_000_000_000;
function state(instances: InstanceSpec[], ports = [DUBBO, TRI], host = 'demo.svc'): RegistryEvent {
  at += 1000;
  return {
    kind: 'SERVICE_STATE',
    eventId: `e-${at}`,
    sourceId: 'zk1',
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'c',
    epoch: 1,
    generation: 'g',
    observedAt: at,
    namespace: 'dubbo',
    host,
    registryService: 'Demo',
    orderToken: null,
    ports,
    instances,
    issues: [],
    resyncServices: [],
    raw: null,
  };
}

/**
 * What the replay publishes, as istiod reads it: resource name -> [port names, endpoints as "address:port,..."] (an
 * endpoint that names no number for a port is on the service port's own).
 */
function published(r: Replay): Record<string, { ports: string[]; endpoints: string[] }> {
  const out: Record<string, { ports: string[]; endpoints: string[] }> = {};
  for (const [field, bytes] of [...r.resources].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const { name, body } = decodeResource(bytes);
    const spec = body as {
      ports: { name: string; number: number }[];
      endpoints?: { address: string; ports?: Record<string, number> }[];
    };
    const portsOf = (e: { ports?: Record<string, number> }) =>
      Object.values(endpointPortsAsIstiodReads(spec.ports, e.ports)).sort().join(',');
    out[name] = {
      ports: spec.ports.map((p) => p.name),
      endpoints: (spec.endpoints ?? []).map((e) => `${e.address}:${portsOf(e)}`),
    };
    assert.equal(field, `ServiceEntry|${name}`);
  }
  return out;
}

function given(...batches: RegistryEvent[][]): Replay {
  const r = new Replay();
  for (const b of batches) r.apply(0, b);
  return r;
}

describe('a host whose endpoints serve different ports', () => {
  it('is one ServiceEntry while every endpoint serves every port', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO, TRI)])]);
    assert.deepEqual(published(r), {
      'dubbo/demo.svc': {
        ports: ['tcp-dubbo', 'tcp-tri'],
        endpoints: ['10.0.0.1:20880,50051', '10.0.0.2:20880,50051'],
      },
    });
  });

  it('is split when a provider serves one port only: every port on one entry, each port with its endpoints', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    assert.deepEqual(published(r), {
      'dubbo/demo.svc~*': { ports: ['tcp-dubbo', 'tcp-tri'], endpoints: [] },
      'dubbo/demo.svc~tcp-dubbo': { ports: ['tcp-dubbo'], endpoints: ['10.0.0.1:20880', '10.0.0.2:20880'] },
      'dubbo/demo.svc~tcp-tri': { ports: ['tcp-tri'], endpoints: ['10.0.0.1:50051'] },
    });
  });

  it("stays split once every provider serves every port: a port gained or lost changes that port's entry only", () => {
    const r = given(
      [state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])],
      [state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO, TRI)])],
    );
    const split = published(r);
    assert.deepEqual(split['dubbo/demo.svc~tcp-tri'], {
      ports: ['tcp-tri'],
      endpoints: ['10.0.0.1:50051', '10.0.0.2:50051'],
    });
    const bytes = new Map(r.resources);
    // The provider restarts: its triple URL lands after its dubbo one.
    const fx = r.apply(0, [state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    assert.deepEqual(published(r)['dubbo/demo.svc~tcp-tri'], { ports: ['tcp-tri'], endpoints: ['10.0.0.1:50051'] });
    assert.deepEqual(fx.resourceDeletes, []);
    assert.deepEqual(fx.splitChanges, []);
    for (const name of ['dubbo/demo.svc~*', 'dubbo/demo.svc~tcp-dubbo'])
      assert.ok(r.resources.get(`ServiceEntry|${name}`)!.equals(bytes.get(`ServiceEntry|${name}`)!), name);
  });

  it('goes from whole to split by new names, so istiod creates the split entries before it deletes the whole one', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO, TRI)])]);
    const fx = r.apply(0, [state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    assert.deepEqual(fx.resourceDeletes, ['ServiceEntry|dubbo/demo.svc']);
    assert.deepEqual(fx.splitChanges, [{ key: 'dubbo/demo.svc', to: 'split', ports: ['tcp-dubbo', 'tcp-tri'] }]);
    assert.deepEqual([...fx.resourceUpserts.keys()].sort(), [
      'ServiceEntry|dubbo/demo.svc~*',
      'ServiceEntry|dubbo/demo.svc~tcp-dubbo',
      'ServiceEntry|dubbo/demo.svc~tcp-tri',
    ]);
  });

  it('is one ServiceEntry again when the host is down to one port, and the split ones are deleted', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    const fx = r.apply(0, [state([provider('10.0.0.1', DUBBO), provider('10.0.0.2', DUBBO)], [DUBBO])]);
    assert.deepEqual(published(r), {
      'dubbo/demo.svc': { ports: ['tcp-dubbo'], endpoints: ['10.0.0.1:20880', '10.0.0.2:20880'] },
    });
    assert.deepEqual(fx.splitChanges, [{ key: 'dubbo/demo.svc', to: 'whole', ports: [] }]);
    assert.equal(r.partitions.get(0)!.services.get('dubbo/demo.svc')!.splitPorts, undefined);
    const again = r.apply(0, [state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    assert.deepEqual(again.splitChanges, [{ key: 'dubbo/demo.svc', to: 'split', ports: ['tcp-dubbo', 'tcp-tri'] }]);
  });

  it('takes its split entries with it when it is removed, in the same batch as other changes', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    r.apply(0, [
      state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.3', TRI)]),
      { ...state([]), kind: 'SERVICE_REMOVED', ports: [] },
      state([provider('10.0.0.9', DUBBO)], [DUBBO], 'other.svc'),
    ]);
    assert.deepEqual(Object.keys(published(r)), ['dubbo/other.svc']);
  });

  it('is removed whole by a re-read that did not see it', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    r.apply(0, [{ ...state([]), kind: 'RESYNC_END', namespace: '', host: '', ports: [], resyncServices: [] }]);
    assert.deepEqual(published(r), {});
  });

  it('creates the per-port entries after the every-port one (istiod takes the oldest of a host as its service)', () => {
    const r = given([state([provider('10.0.0.1', DUBBO, TRI), provider('10.0.0.2', DUBBO)])]);
    const metas = [...r.resources.values()].map((b) => decodeResource(b));
    const every = metas.find((m) => m.name === 'dubbo/demo.svc~*')!;
    for (const m of metas.filter((x) => x !== every)) assert.ok(m.createTimeMs > every.createTimeMs, m.name);
    for (const m of metas) assert.deepEqual(m.labels, every.labels, 'istiod merges only entries with equal labels');
  });
});

describe('per-port ServiceEntry names', () => {
  it('name their host, and are served from its shard', () => {
    const names = hostEntryNames('dubbo/demo.svc', ['tcp-dubbo', 'tcp-tri']);
    assert.deepEqual(names, ['dubbo/demo.svc~*', 'dubbo/demo.svc~tcp-dubbo', 'dubbo/demo.svc~tcp-tri']);
    assert.deepEqual(hostEntryNames('dubbo/demo.svc', undefined), ['dubbo/demo.svc']);
    assert.equal(hostEntryName('dubbo/demo.svc'), 'dubbo/demo.svc');
    for (const name of names) {
      assert.equal(hostEntryName(name), 'dubbo/demo.svc');
      for (const k of [4, 16, 256, 1024]) assert.equal(shardOf(name, k), shardOf('dubbo/demo.svc', k));
    }
  });
});
