import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildServiceEntry } from '../../projection/build-service-entry.ts';
import { validateServiceEntry } from '../../schemas/service-entry/validate.ts';
import type { ServiceFold, SourceContribution } from '../../projection/fold-state.ts';

const contrib = (over: Partial<SourceContribution>): SourceContribution => ({
  sourceKind: 'zookeeper-dubbo',
  registryService: 'A',
  orderToken: 1,
  epoch: 1,
  eventId: 'e',
  observedAt: 0,
  ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
  instances: [
    {
      address: '10.0.0.1',
      ports: { 'tcp-dubbo': 20880 },
      labels: { 'meshbridge.io/source': 'zk1' },
      weight: 100,
      locality: '',
    },
  ],
  ...over,
});
const fold = (sources: Record<string, SourceContribution>): ServiceFold => ({
  namespace: 'dubbo',
  host: 'a.svc',
  createTimeMs: 1_700_000_000_000,
  sources,
});

describe('buildServiceEntry', () => {
  it('builds a STATIC MESH_INTERNAL ServiceEntry named namespace/host with a stable create time', () => {
    const r = buildServiceEntry(fold({ zk1: contrib({}) }));
    assert.ok(r.ok);
    assert.equal(r.value.meta.name, 'dubbo/a.svc');
    assert.equal(r.value.meta.createTimeMs, 1_700_000_000_000);
    assert.deepEqual(r.value.body, {
      hosts: ['a.svc'],
      ports: [{ number: 20880, protocol: 'TCP', name: 'tcp-dubbo' }],
      location: 1,
      resolution: 1,
      endpoints: [
        { address: '10.0.0.1', ports: { 'tcp-dubbo': 20880 }, labels: { 'meshbridge.io/source': 'zk1' }, weight: 100 },
      ],
    });
  });

  it('merges sources; on a port conflict the first source in id order wins and the conflict is reported', () => {
    const r = buildServiceEntry(
      fold({
        zk1: contrib({}),
        'consul-dc1': contrib({
          ports: [{ name: 'tcp-dubbo', number: 20990, protocol: 'TCP' }],
          instances: [{ address: '10.0.1.1', ports: { 'tcp-dubbo': 20990 }, labels: {}, weight: 0, locality: 'dc1' }],
        }),
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.value.body.ports, [{ number: 20990, protocol: 'TCP', name: 'tcp-dubbo' }]);
    assert.match(r.value.notes[0]!, /source zk1 says 20880\/TCP, kept 20990\/TCP from consul-dc1/);
    assert.deepEqual(
      r.value.body.endpoints.map((e) => e.address),
      ['10.0.0.1', '10.0.1.1'],
    );
    assert.equal(r.value.meta.annotations['meshbridge.io/sources'], 'consul-dc1,zk1');
  });

  describe('given an instance two sources both report', () => {
    const inst = (address: string, source: string) => ({
      address,
      ports: { 'tcp-dubbo': 20880 },
      labels: { 'meshbridge.io/source': source },
      weight: 0,
      locality: '',
    });

    it('serves it once, as the first source in id order, and says so', () => {
      const r = buildServiceEntry(
        fold({
          'zk-b': contrib({ instances: [inst('10.0.9.1', 'zk-b')] }),
          'zk-a': contrib({ instances: [inst('10.0.9.1', 'zk-a'), inst('10.0.9.2', 'zk-a')] }),
        }),
      );
      assert.ok(r.ok);
      assert.deepEqual(
        r.value.body.endpoints.map((e) => [e.address, e.labels['meshbridge.io/source']]),
        [
          ['10.0.9.1', 'zk-a'],
          ['10.0.9.2', 'zk-a'],
        ],
      );
      assert.deepEqual(r.value.notes, [
        "1 endpoint(s) reported by more than one source, each served once as the first source's: 10.0.9.1 tcp-dubbo=20880 (zk-a, zk-b)",
      ]);
    });

    it('when the first source drops it, the other serves it', () => {
      const r = buildServiceEntry(
        fold({
          'zk-a': contrib({ instances: [inst('10.0.9.2', 'zk-a')] }),
          'zk-b': contrib({ instances: [inst('10.0.9.1', 'zk-b')] }),
        }),
      );
      assert.ok(r.ok);
      assert.deepEqual(
        r.value.body.endpoints.map((e) => [e.address, e.labels['meshbridge.io/source']]),
        [
          ['10.0.9.1', 'zk-b'],
          ['10.0.9.2', 'zk-a'],
        ],
      );
      assert.deepEqual(r.value.notes, []);
    });

    it('keeps the same address on another port: a different instance', () => {
      const other = { ...inst('10.0.9.1', 'zk-b'), ports: { 'tcp-dubbo': 20881 } };
      const r = buildServiceEntry(
        fold({
          'zk-a': contrib({ instances: [inst('10.0.9.1', 'zk-a')] }),
          'zk-b': contrib({ instances: [other] }),
        }),
      );
      assert.ok(r.ok);
      assert.equal(r.value.body.endpoints.length, 2);
    });
  });

  it('when two registries name one port number differently, then every instance serves it under the first name', () => {
    const inst = (address: string, ports: Record<string, number>) => ({
      address,
      ports,
      labels: {},
      weight: 0,
      locality: '',
    });
    const r = buildServiceEntry(
      fold({
        // Dubbo in ZooKeeper names its port tcp-dubbo, Dubbo in Nacos tcp; 10.0.5.1 is registered in both.
        zk: contrib({
          instances: [inst('10.0.5.1', { 'tcp-dubbo': 20880 }), inst('10.0.5.2', { 'tcp-dubbo': 20880 })],
        }),
        nacos: contrib({
          sourceKind: 'nacos',
          ports: [{ name: 'tcp', number: 20880, protocol: 'TCP' }],
          instances: [inst('10.0.5.1', { tcp: 20880 }), inst('10.0.5.3', { tcp: 20880 })],
        }),
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.value.body.ports, [{ number: 20880, protocol: 'TCP', name: 'tcp' }]);
    assert.deepEqual(
      r.value.body.endpoints.map((e) => [e.address, e.ports]),
      [
        ['10.0.5.1', { tcp: 20880 }],
        ['10.0.5.2', { tcp: 20880 }],
        ['10.0.5.3', { tcp: 20880 }],
      ],
    );
    assert.match(
      r.value.notes.join('\n'),
      /port 20880: source zk names it tcp-dubbo, kept tcp \(its instances serve it as tcp\)/,
    );
    assert.match(r.value.notes.join('\n'), /1 endpoint\(s\) reported by more than one source/);
  });

  describe('given a host fed by several sources, their weights are put on one scale', () => {
    const inst = (address: string, weight: number) => ({
      address,
      ports: { 'tcp-dubbo': 20880 },
      labels: {},
      weight,
      locality: '',
    });
    const weightsOf = (sources: Record<string, SourceContribution>) => {
      const r = buildServiceEntry(fold(sources));
      assert.ok(r.ok);
      return r.value.body.endpoints.map((e) => [e.address, e.weight]);
    };

    it('when ZooKeeper leaves its equal weights out and Nacos states its 1.0 as 100, then none is published (equal shares)', () => {
      assert.deepEqual(
        weightsOf({
          zk: contrib({ instances: [inst('10.0.5.1', 0), inst('10.0.5.2', 0)] }),
          nacos: contrib({ sourceKind: 'nacos', instances: [inst('10.0.5.3', 100)] }),
        }),
        [
          ['10.0.5.1', undefined],
          ['10.0.5.2', undefined],
          ['10.0.5.3', undefined],
        ],
      );
    });

    it("when one source's weights differ, then the other source's instances get its default share, not istio's 1", () => {
      assert.deepEqual(
        weightsOf({
          zk: contrib({ instances: [inst('10.0.5.1', 0)] }),
          nacos: contrib({ sourceKind: 'nacos', instances: [inst('10.0.5.3', 50), inst('10.0.5.4', 200)] }),
        }),
        [
          ['10.0.5.1', 100],
          ['10.0.5.3', 50],
          ['10.0.5.4', 200],
        ],
      );
    });

    it("when Consul's weights (default 1) meet Dubbo's (default 100), then each default is the same share", () => {
      assert.deepEqual(
        weightsOf({
          zk: contrib({ instances: [inst('10.0.5.1', 300), inst('10.0.5.2', 100)] }),
          consul: contrib({ sourceKind: 'consul', instances: [inst('10.0.6.1', 1), inst('10.0.6.2', 2)] }),
        }),
        [
          ['10.0.5.1', 300],
          ['10.0.5.2', 100],
          ['10.0.6.1', 100],
          ['10.0.6.2', 200],
        ],
      );
    });

    it('when only one source feeds the host, then its weights are published as its collector gave them', () => {
      assert.deepEqual(weightsOf({ consul: contrib({ sourceKind: 'consul', instances: [inst('10.0.6.1', 1)] }) }), [
        ['10.0.6.1', 1],
      ]);
    });
  });

  it('is canonical: the same content in any insertion order gives the same body', () => {
    const a = buildServiceEntry(
      fold({
        zk1: contrib({
          instances: [
            { address: '10.0.0.2', ports: { 'tcp-dubbo': 1 }, labels: { b: '1', a: '2' }, weight: 0, locality: '' },
            { address: '10.0.0.1', ports: { 'tcp-dubbo': 1 }, labels: {}, weight: 0, locality: '' },
          ],
        }),
      }),
    );
    const b = buildServiceEntry(
      fold({
        zk1: contrib({
          instances: [
            { address: '10.0.0.1', ports: { 'tcp-dubbo': 1 }, labels: {}, weight: 0, locality: '' },
            { address: '10.0.0.2', ports: { 'tcp-dubbo': 1 }, labels: { a: '2', b: '1' }, weight: 0, locality: '' },
          ],
        }),
      }),
    );
    assert.ok(a.ok && b.ok);
    assert.equal(JSON.stringify(a.value.body), JSON.stringify(b.value.body));
  });
});

describe('validateServiceEntry (istiod rules)', () => {
  const ok = {
    hosts: ['a.svc'],
    ports: [{ number: 80, protocol: 'TCP', name: 'tcp' }],
    location: 1,
    resolution: 1,
    endpoints: [{ address: '10.0.0.1', ports: { tcp: 80 }, labels: {} }],
  };
  it('accepts a valid entry', () => assert.deepEqual(validateServiceEntry(ok), []));
  const cases: [string, object, RegExp][] = [
    ['a Dubbo key as host', { hosts: ['com.foo.Svc:1.0.0'] }, /not a DNS name/],
    ['a wildcard host', { hosts: ['*'] }, /not a DNS name/],
    ['port 0', { ports: [{ number: 0, protocol: 'TCP', name: 'tcp' }] }, /outside 1\.\.65535/],
    ['protocol DUBBO', { ports: [{ number: 80, protocol: 'DUBBO', name: 'tcp' }] }, /protocol "DUBBO"/],
    [
      'duplicate port numbers',
      {
        ports: [
          { number: 80, protocol: 'TCP', name: 'a' },
          { number: 80, protocol: 'TCP', name: 'b' },
        ],
        endpoints: [],
      },
      /duplicate number/,
    ],
    [
      'a non-IP STATIC endpoint',
      { endpoints: [{ address: 'host.local', ports: { tcp: 80 }, labels: {} }] },
      /not an IP/,
    ],
    [
      'an endpoint port not on the service',
      { endpoints: [{ address: '10.0.0.1', ports: { http: 80 }, labels: {} }] },
      /not a port of the service/,
    ],
    [
      'an invalid label value',
      { endpoints: [{ address: '10.0.0.1', ports: { tcp: 80 }, labels: { v: 'a b' } }] },
      /label value/,
    ],
    ['NONE resolution with endpoints', { resolution: 0 }, /NONE with endpoints/],
  ];
  for (const [name, patch, re] of cases) {
    it(`rejects ${name}`, () => assert.match(validateServiceEntry({ ...ok, ...patch } as typeof ok).join('; '), re));
  }
});
