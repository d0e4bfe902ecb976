import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import type { ServiceEntryBody } from '../../schemas/service-entry/validate.ts';
import { endpointPortsAsIstiodReads, withImplicitEndpointPorts } from '../../schemas/service-entry/endpoint-ports.ts';
import { Replay } from '../../projection/replay.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import { toKubeObject } from '../../services/audit/render-yaml.ts';

const DUBBO = { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' };
const TRI = { name: 'tcp-tri', number: 50051, protocol: 'TCP' };
const labels = { app: 'demo' };

const body = (ports: ServiceEntryBody['ports'], endpoints: ServiceEntryBody['endpoints']): ServiceEntryBody => ({
  hosts: ['demo.svc'],
  ports,
  location: 1,
  resolution: 1,
  endpoints,
});

describe('endpoint ports as istiod is served them', () => {
  it('leaves out a port on the service port’s own number, and the map when nothing is left', () => {
    const served = withImplicitEndpointPorts(
      body([DUBBO], [{ address: '10.0.0.1', ports: { 'tcp-dubbo': 20880 }, labels, weight: 3 }]),
    );
    assert.deepEqual(served.endpoints, [{ address: '10.0.0.1', labels, weight: 3 }]);
  });

  it('keeps a port on another number: istiod would send the traffic to the service port’s', () => {
    const served = withImplicitEndpointPorts(
      body(
        [DUBBO, TRI],
        [
          { address: '10.0.0.1', ports: { 'tcp-dubbo': 20880, 'tcp-tri': 50051 }, labels },
          { address: '10.0.0.2', ports: { 'tcp-dubbo': 20881, 'tcp-tri': 50051 }, labels },
        ],
      ),
    );
    assert.deepEqual(served.endpoints, [
      { address: '10.0.0.1', labels },
      { address: '10.0.0.2', ports: { 'tcp-dubbo': 20881 }, labels },
    ]);
  });

  it('returns the body itself when every endpoint names only other numbers', () => {
    const b = body([DUBBO], [{ address: '10.0.0.1', ports: { 'tcp-dubbo': 20881 }, labels }]);
    assert.equal(withImplicitEndpointPorts(b), b);
  });

  it('is read back by istiod’s rule as the ports the endpoint was built with', () => {
    const built = body(
      [DUBBO, TRI],
      [
        { address: '10.0.0.1', ports: { 'tcp-dubbo': 20880, 'tcp-tri': 50051 }, labels },
        { address: '10.0.0.2', ports: { 'tcp-dubbo': 20881, 'tcp-tri': 50052 }, labels },
      ],
    );
    const served = withImplicitEndpointPorts(built);
    assert.deepEqual(
      served.endpoints.map((ep) => endpointPortsAsIstiodReads(served.ports, ep.ports)),
      built.endpoints.map((ep) => ep.ports),
    );
  });

  it('reads a targetPort before the number, as istiod does (an entry meshbridge did not write)', () => {
    assert.deepEqual(endpointPortsAsIstiodReads([{ ...DUBBO, targetPort: 20990 }], undefined), { 'tcp-dubbo': 20990 });
  });
});

describe('the projector’s published ServiceEntry', () => {
  const event = (port: number): RegistryEvent => ({
    eventId: 'e1',
    kind: 'SERVICE_STATE',
    sourceId: 'zk1',
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'c',
    epoch: 1,
    generation: 'g',
    observedAt: 1_700_000_000_000,
    namespace: 'dubbo',
    host: 'demo.svc',
    registryService: 'org.demo.Greeter',
    orderToken: null,
    ports: [DUBBO],
    instances: [
      { address: '10.0.0.1', ports: { 'tcp-dubbo': 20880 }, labels, weight: 0, locality: '' },
      { address: '10.0.0.2', ports: { 'tcp-dubbo': port }, labels, weight: 0, locality: '' },
    ],
    issues: [],
    resyncServices: [],
    raw: null,
  });
  const published = (port: number) => {
    const r = new Replay();
    r.apply(0, [event(port)]);
    return r.resources.get('ServiceEntry|dubbo/demo.svc')!;
  };

  it('names no port for providers on the service port, and the audit tools still show it', () => {
    const bytes = published(20880);
    const spec = decodeResource(bytes).body as { endpoints: { ports?: unknown }[] };
    assert.deepEqual(
      spec.endpoints.map((e) => e.ports),
      [undefined, undefined],
    );
    const kube = toKubeObject(bytes).spec as { endpoints: { ports: unknown }[] };
    assert.deepEqual(
      kube.endpoints.map((e) => e.ports),
      [{ 'tcp-dubbo': 20880 }, { 'tcp-dubbo': 20880 }],
    );
  });

  it('names the port of a provider listening elsewhere', () => {
    const spec = decodeResource(published(20990)).body as { endpoints: { address: string; ports?: unknown }[] };
    assert.deepEqual(
      spec.endpoints.map((e) => [e.address, e.ports]),
      [
        ['10.0.0.1', undefined],
        ['10.0.0.2', { 'tcp-dubbo': 20990 }],
      ],
    );
  });
});
