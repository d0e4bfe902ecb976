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

  describe('given endpoints that serve different ports (istio sends every port to every endpoint)', () => {
    const ep = (address: string, ports: Record<string, number>) => ({
      address,
      ports,
      labels: {},
      weight: 0,
      locality: '',
    });
    const dubboAndTri = [
      { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
      { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
    ];
    const both = { 'tcp-dubbo': 20880, 'tcp-tri': 50051 };
    /** One source that announces both ports, with these endpoints. */
    const build = (...instances: ReturnType<typeof ep>[]) =>
      buildServiceEntry(fold({ zk1: contrib({ ports: dubboAndTri, instances }) }));

    it('leaves out a port only some endpoints serve, and says so', () => {
      const r = build(ep('10.0.0.1', both), ep('10.0.0.2', { 'tcp-dubbo': 20880 }));
      assert.ok(r.ok);
      assert.deepEqual(r.value.body.ports, [{ number: 20880, protocol: 'TCP', name: 'tcp-dubbo' }]);
      assert.deepEqual(
        r.value.body.endpoints.map((e) => [e.address, e.ports]),
        [
          ['10.0.0.1', { 'tcp-dubbo': 20880 }],
          ['10.0.0.2', { 'tcp-dubbo': 20880 }],
        ],
      );
      assert.deepEqual(r.value.notes, [
        'port tcp-tri: served by 1 of 2 endpoints; left out until every endpoint serves it (istio would send its traffic to all of them)',
      ]);
    });

    it('keeps both ports once every endpoint serves both', () => {
      const r = build(ep('10.0.0.1', both), ep('10.0.0.2', both));
      assert.ok(r.ok);
      assert.equal(r.value.body.ports.length, 2);
      assert.deepEqual(r.value.notes, []);
    });

    it('counts endpoints across sources of one host', () => {
      const r = buildServiceEntry(
        fold({
          zk1: contrib({ ports: dubboAndTri, instances: [ep('10.0.0.1', both)] }),
          zk2: contrib({ instances: [ep('10.0.1.1', { 'tcp-dubbo': 20880 })] }),
        }),
      );
      assert.ok(r.ok);
      assert.deepEqual(
        r.value.body.ports.map((p) => p.name),
        ['tcp-dubbo'],
      );
    });

    it('keeps every port when none is served by all (no registered instance leaves the mesh), and says so', () => {
      const r = build(ep('10.0.0.1', { 'tcp-dubbo': 20880 }), ep('10.0.0.2', { 'tcp-tri': 50051 }));
      assert.ok(r.ok);
      assert.equal(r.value.body.ports.length, 2);
      assert.equal(r.value.body.endpoints.length, 2);
      assert.match(
        r.value.notes[0]!,
        /^no port is served by every endpoint \(port tcp-dubbo: served by 1 of 2 endpoints; port tcp-tri: served by 1 of 2 endpoints\)/,
      );
    });

    it('keeps the ports of a service without endpoints', () => {
      const r = build();
      assert.ok(r.ok);
      assert.equal(r.value.body.ports.length, 2);
      assert.deepEqual(r.value.notes, []);
    });
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
