import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  composeInterfaceService,
  normaliseDubboApp,
  parseMapping,
} from '../../services/collector/normalise-dubbo-app.ts';
import { parseConfig, type ZooKeeperDubboSourceConfig } from '../../services/shared/config.ts';
import { validateServiceEntry } from '../../schemas/service-entry/validate.ts';
import { DubboAppRegistrar } from '../../harness/dubbo-app-registrar.ts';

function source(extra: Record<string, unknown> = {}): ZooKeeperDubboSourceConfig {
  const cfg = parseConfig({
    kafka: { brokers: ['127.0.0.1:9092'] },
    redis: { url: 'redis://127.0.0.1:6379' },
    sources: [{ id: 'zk3', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181', mode: 'application', ...extra }],
  });
  return cfg.sources[0] as ZooKeeperDubboSourceConfig;
}
const node = (name: string, data: string) => ({ name, data: Buffer.from(data) });
const inst = (ip: string, port: number, opts: Parameters<typeof DubboAppRegistrar.instanceJson>[3] = {}) =>
  node(`${ip}:${port}`, DubboAppRegistrar.instanceJson('Demo_Provider', ip, port, opts));

describe('normaliseDubboApp (Dubbo 3 application-level discovery)', () => {
  it("publishes weights only where they differ, a missing one at Dubbo's 100 (istio would read it as 1)", () => {
    const weights = (...nodes: ReturnType<typeof inst>[]) =>
      normaliseDubboApp(source(), 'Demo_Provider', nodes).instances.map((i) => [i.address, i.weight]);
    assert.deepEqual(weights(inst('10.3.0.1', 20880), inst('10.3.0.2', 20880)), [
      ['10.3.0.1', 0],
      ['10.3.0.2', 0],
    ]);
    assert.deepEqual(weights(inst('10.3.0.1', 20880, { extra: { weight: '300' } }), inst('10.3.0.2', 20880)), [
      ['10.3.0.1', 300],
      ['10.3.0.2', 100],
    ]);
  });

  it('one mesh service per application, a TCP port per protocol from dubbo.endpoints', () => {
    const s = normaliseDubboApp(source(), 'Demo_Provider', [
      inst('10.3.0.2', 20880, {
        endpoints: [
          { port: 20880, protocol: 'dubbo' },
          { port: 50051, protocol: 'tri' },
        ],
      }),
      inst('10.3.0.1', 20880, {
        endpoints: [
          { port: 20880, protocol: 'dubbo' },
          { port: 50051, protocol: 'tri' },
        ],
        revision: 'rev2',
      }),
    ]);
    assert.equal(s.host, 'demo-provider');
    assert.equal(s.namespace, 'dubbo');
    assert.deepEqual(s.ports, [
      { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
      { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
    ]);
    assert.deepEqual(
      s.instances.map((i) => [i.address, i.ports]),
      [
        ['10.3.0.1', { 'tcp-dubbo': 20880, 'tcp-tri': 50051 }],
        ['10.3.0.2', { 'tcp-dubbo': 20880, 'tcp-tri': 50051 }],
      ],
    );
    assert.deepEqual(s.instances[0]!.labels, {
      app: 'Demo_Provider',
      'dubbo.apache.org/revision': 'rev2',
      'meshbridge.io/source': 'zk3',
    });
    assert.deepEqual(
      validateServiceEntry({
        hosts: [s.host],
        ports: s.ports,
        location: 1,
        resolution: 1,
        endpoints: s.instances.map((i) => ({ address: i.address, ports: i.ports, labels: i.labels })),
      }),
      [],
    );
  });

  it('reports garbage instance data by field and keeps the good instances', () => {
    const s = normaliseDubboApp(source(), 'app', [
      inst('10.3.0.1', 20880),
      node('garbage', '{not json'),
      node('array', '[1,2]'),
      node('host', JSON.stringify({ address: 'host.example.com', port: 1 })),
      node(
        'badports',
        DubboAppRegistrar.instanceJson('app', '10.3.0.9', 20880, { endpoints: [{ port: 0, protocol: 'dubbo' }] }),
      ),
      node(
        'badendpoints',
        JSON.stringify({ address: '10.3.0.8', port: 1, payload: { metadata: { 'dubbo.endpoints': '{oops' } } }),
      ),
    ]);
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.3.0.1'],
    );
    assert.deepEqual(
      s.issues.map((i) => i.field),
      [
        'instances[garbage].data',
        'instances[array].data',
        'instances[host].address',
        'instances[badports].port',
        'instances[badendpoints].metadata.dubbo.endpoints',
      ],
    );
  });

  it('falls back to the instance port as dubbo without endpoint metadata; host template over {app}', () => {
    const s = normaliseDubboApp(source({ hostTemplate: '{app}.svc.{source}' }), 'orders', [
      node('x', JSON.stringify({ address: '10.3.0.5', port: 20881, payload: { metadata: {} } })),
    ]);
    assert.equal(s.host, 'orders.svc.zk3');
    assert.deepEqual(s.ports, [{ name: 'tcp-dubbo', number: 20881, protocol: 'TCP' }]);
  });
});

describe('application mode label rules (instance metadata to endpoint labels)', () => {
  const labelsOf = (extra: Record<string, unknown>, meta: Record<string, string>) =>
    normaliseDubboApp(source(extra), 'Demo_Provider', [inst('10.3.0.1', 20880, { extra: meta })]).instances[0]?.labels;

  it('given no rules, then the app name and the metadata revision are the labels', () => {
    assert.deepEqual(labelsOf({}, { 'dubbo.tag': 'gray' }), {
      app: 'Demo_Provider',
      'dubbo.apache.org/revision': 'a1b2c3d4e5f6',
      'meshbridge.io/source': 'zk3',
    });
  });

  it('given rules, then they replace the defaults, and the app label stays the application name', () => {
    const labelRules = [
      { from: 'metadata', match: 'dubbo\\.tag', label: 'dubbo.apache.org/tag' },
      { from: 'metadata', match: 'zone', label: 'app' },
    ];
    assert.deepEqual(labelsOf({ labelRules }, { 'dubbo.tag': 'gray', zone: 'z1' }), {
      app: 'Demo_Provider',
      'dubbo.apache.org/tag': 'gray',
      'meshbridge.io/source': 'zk3',
    });
  });
});

describe('interface -> application mapping', () => {
  it('parses mapping data, ignoring junk', () => {
    assert.deepEqual(parseMapping(Buffer.from('b-app, a-app,,a-app,bad app!')), ['a-app', 'b-app']);
    assert.deepEqual(parseMapping(undefined), []);
  });

  it('composes an interface service from its applications, ports by name, endpoints unioned', () => {
    const a = normaliseDubboApp(source(), 'app-a', [
      inst('10.3.1.1', 20880, {
        endpoints: [
          { port: 20880, protocol: 'dubbo' },
          { port: 50051, protocol: 'tri' },
        ],
      }),
    ]);
    const b = normaliseDubboApp(source(), 'app-b', [inst('10.3.2.1', 20881)]);
    const s = composeInterfaceService(
      { namespace: 'dubbo', id: 'zk3', interfaceHostTemplate: '{interface}' },
      'org.demo.Greeting',
      [a, b],
    );
    assert.equal(s.host, 'org.demo.greeting');
    assert.deepEqual(s.ports, [
      { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
      { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
    ]);
    assert.deepEqual(
      s.instances.map((i) => [i.address, i.ports]),
      [
        ['10.3.1.1', { 'tcp-dubbo': 20880, 'tcp-tri': 50051 }],
        ['10.3.2.1', { 'tcp-dubbo': 20881 }],
      ],
    );
    assert.deepEqual(
      validateServiceEntry({
        hosts: [s.host],
        ports: s.ports,
        location: 1,
        resolution: 1,
        endpoints: s.instances.map((i) => ({ address: i.address, ports: i.ports, labels: i.labels })),
      }),
      [],
    );
  });
});
