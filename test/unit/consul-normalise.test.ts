import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { istioProtocol, normaliseConsulService } from '../../services/collector/normalise-consul.ts';
import { labelsFromRules } from '../../services/collector/label-rules.ts';
import { parseConfig, type ConsulSourceConfig } from '../../services/shared/config.ts';
import { validateServiceEntry } from '../../schemas/service-entry/validate.ts';

function source(extra: Record<string, unknown> = {}): ConsulSourceConfig {
  const cfg = parseConfig({
    kafka: { brokers: ['127.0.0.1:9092'] },
    redis: { url: 'redis://127.0.0.1:6379' },
    sources: [{ id: 'c1', kind: 'consul', ...extra }],
  });
  return cfg.sources[0] as ConsulSourceConfig;
}

const entry = (o: {
  node?: string;
  addr?: string;
  svcAddr?: string;
  port?: unknown;
  id?: string;
  tags?: string[];
  meta?: Record<string, unknown>;
  nodeMeta?: Record<string, string>;
  status?: string[];
  kind?: string;
  weights?: unknown;
  dc?: string;
}) => ({
  Node: { Node: o.node ?? 'n1', Address: o.addr ?? '10.0.0.1', Datacenter: o.dc ?? 'dc1', Meta: o.nodeMeta ?? {} },
  Service: {
    ID: o.id ?? 'web-1',
    Service: 'web',
    Address: o.svcAddr ?? '',
    Port: o.port ?? 8080,
    Tags: o.tags ?? [],
    Meta: o.meta ?? {},
    ...(o.kind ? { Kind: o.kind } : {}),
    ...(o.weights ? { Weights: o.weights } : {}),
  },
  Checks: (o.status ?? ['passing']).map((s, i) => ({ CheckID: `c${i}`, Status: s })),
});

const valid = (s: ReturnType<typeof normaliseConsulService>) =>
  validateServiceEntry({
    hosts: [s.host],
    ports: s.ports,
    location: 1,
    resolution: 1,
    endpoints: s.instances.map((i) => ({ address: i.address, ports: i.ports, labels: i.labels })),
  });

describe('normaliseConsulService', () => {
  it('builds an istio-valid service: host from the name, protocol from meta, datacenter as locality, passing only', () => {
    const s = normaliseConsulService(source(), {
      service: 'Web_Frontend',
      datacenter: 'dc1',
      entries: [
        entry({ addr: '10.0.0.2', meta: { protocol: 'http', version: 'v2' }, tags: ['env=prod', 'primary'] }),
        entry({
          node: 'n2',
          addr: '10.0.0.1',
          id: 'web-2',
          meta: { protocol: 'HTTP' },
          status: ['passing', 'critical'],
        }),
        entry({ node: 'n3', addr: '10.0.0.3', id: 'web-3', meta: { protocol: 'http' }, status: ['warning'] }),
      ],
    });
    assert.equal(s.host, 'web-frontend');
    assert.equal(s.namespace, 'consul');
    assert.deepEqual(s.ports, [{ name: 'http', number: 8080, protocol: 'HTTP' }]);
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.0.0.2'],
    );
    assert.deepEqual(s.instances[0]!.labels, { version: 'v2', env: 'prod', 'meshbridge.io/source': 'c1' });
    assert.equal(s.instances[0]!.locality, 'dc1');
    assert.deepEqual(valid(s), []);
  });

  it('admits warning instances with health: warning, and all with health: any', () => {
    const entries = [
      entry({ status: ['warning'], weights: { Passing: 10, Warning: 1 } }),
      entry({ id: 'b', addr: '10.0.0.9', status: ['critical'] }),
    ];
    const w = normaliseConsulService(source({ health: 'warning' }), { service: 'web', datacenter: 'dc1', entries });
    assert.deepEqual(
      w.instances.map((i) => [i.address, i.weight]),
      [['10.0.0.1', 1]],
    );
    const a = normaliseConsulService(source({ health: 'any' }), { service: 'web', datacenter: 'dc1', entries });
    assert.equal(a.instances.length, 2);
  });

  it('reports bad instances by field and keeps the good ones', () => {
    const s = normaliseConsulService(source(), {
      service: 'api',
      datacenter: 'dc1',
      entries: [
        entry({ id: 'ok', addr: '10.1.0.1' }),
        entry({ id: 'host', addr: 'db.example.com' }),
        entry({ id: 'port0', addr: '10.1.0.2', port: 0 }),
        entry({ id: 'port-big', addr: '10.1.0.3', port: 70000 }),
        entry({ id: 'port-str', addr: '10.1.0.4', port: '80' }),
        entry({ id: 'proto', addr: '10.1.0.5', meta: { protocol: 'thrift' } }),
        entry({ id: 'label', addr: '10.1.0.6', meta: { version: 'v1 (canary)!' }, tags: ['bad key!=x'] }),
        'garbage',
        null,
        { Node: 1, Service: [] },
      ],
    });
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.1.0.1', '10.1.0.5', '10.1.0.6'],
    );
    const fields = s.issues.map((i) => i.field);
    assert.ok(fields.includes('instances[n1/host].address'), fields.join());
    assert.ok(fields.includes('instances[n1/port0].port'));
    assert.ok(fields.includes('instances[n1/port-big].port'));
    assert.ok(fields.includes('instances[n1/port-str].port'));
    assert.ok(fields.includes('instances[n1/proto].meta.protocol'));
    assert.ok(fields.includes('instances[n1/label].labels[version]'));
    assert.equal(s.issues.filter((i) => i.reason === 'entry lacks Node or Service').length, 3);
    assert.equal(s.instances.find((i) => i.address === '10.1.0.6')!.labels.version, 'v1--canary');
    assert.deepEqual(valid(s), []);
  });

  it('survives a response that is not a list, and huge metadata', () => {
    const s = normaliseConsulService(source(), { service: 'x', datacenter: 'dc1', entries: { error: 'boom' } });
    assert.equal(s.instances.length, 0);
    assert.equal(s.issues[0]!.field, 'entries');
    const big = normaliseConsulService(source(), {
      service: 'x',
      datacenter: 'dc1',
      entries: [entry({ meta: { version: 'v'.repeat(100_000), junk: 'x'.repeat(1_000_000) } })],
    });
    assert.ok(big.instances[0]!.labels.version!.length <= 63);
    assert.deepEqual(valid(big), []);
  });

  it('skips Connect proxies and zero-weight instances (unless configured) and de-duplicates address:port', () => {
    const entries = [
      entry({}),
      entry({ id: 'again', node: 'n9' }),
      entry({ id: 'proxy', addr: '10.0.0.7', kind: 'connect-proxy' }),
      entry({ id: 'w0', addr: '10.0.0.8', weights: { Passing: 0, Warning: 0 } }),
    ];
    assert.deepEqual(
      normaliseConsulService(source(), { service: 'web', datacenter: 'dc1', entries }).instances.map((i) => i.address),
      ['10.0.0.1'],
    );
    assert.deepEqual(
      normaliseConsulService(source({ includeZeroWeight: true }), {
        service: 'web',
        datacenter: 'dc1',
        entries,
      }).instances.map((i) => i.address),
      ['10.0.0.1', '10.0.0.8'],
    );
  });

  it('uses the service address over the node address, and a zone from node meta', () => {
    const s = normaliseConsulService(source({ zoneNodeMeta: 'zone' }), {
      service: 'web',
      datacenter: 'dc1',
      entries: [entry({ addr: '10.0.0.1', svcAddr: '192.168.1.5', nodeMeta: { zone: 'eu-1a' }, dc: 'dc2' })],
    });
    assert.equal(s.instances[0]!.address, '192.168.1.5');
    assert.equal(s.instances[0]!.locality, 'dc2/eu-1a');
  });

  it('one port per protocol, with an overridable number', () => {
    const s = normaliseConsulService(source(), {
      service: 'mix',
      datacenter: 'dc1',
      entries: [
        entry({ port: 9090, meta: { protocol: 'grpc' } }),
        entry({ id: 'b', addr: '10.0.0.2', port: 8080, meta: { protocol: 'http' } }),
      ],
    });
    assert.deepEqual(s.ports, [
      { name: 'grpc', number: 9090, protocol: 'GRPC' },
      { name: 'http', number: 8080, protocol: 'HTTP' },
    ]);
    const o = normaliseConsulService(source({ servicePort: 80 }), {
      service: 'web',
      datacenter: 'dc1',
      entries: [entry({ port: 31000 })],
    });
    assert.deepEqual(o.ports, [{ name: 'tcp', number: 80, protocol: 'TCP' }]);
    assert.deepEqual(o.instances[0]!.ports, { tcp: 31000 });
    assert.deepEqual(valid(o), []);
  });

  it('renders host templates over service, datacenter and source', () => {
    const s = normaliseConsulService(source({ hostTemplate: '{service}.{datacenter}.consul' }), {
      service: 'Billing',
      datacenter: 'eu-west',
      entries: [],
    });
    assert.equal(s.host, 'billing.eu-west.consul');
  });
});

describe('label rules and protocols', () => {
  it('maps tags and meta by regex with templates; first rule wins', () => {
    const labels = labelsFromRules(
      [
        { from: 'tag', match: 'canary', label: 'track', value: 'canary' },
        { from: 'tag', match: '([a-z]+)=(.*)', label: '$1', value: '$2' },
        { from: 'service-meta', match: 'label\\.(.+)', label: '$1' },
        { from: 'node-meta', match: 'rack', label: 'topology.example.com/rack' },
        { from: 'service-meta', match: 'version', label: 'version' },
      ],
      ['canary', 'tier=web', 'track=stable'],
      { 'label.team': 'payments', version: 'v3', other: 'x' },
      { rack: 'r12' },
    );
    assert.deepEqual(labels, {
      track: 'canary',
      tier: 'web',
      team: 'payments',
      'topology.example.com/rack': 'r12',
      version: 'v3',
    });
  });

  it('maps Consul protocol meta to istio protocols, unknown ones to the default with an issue', () => {
    const cfg = { protocolMeta: 'protocol', defaultProtocol: 'TCP' as const };
    assert.deepEqual(istioProtocol({ protocol: 'grpc' }, cfg), { protocol: 'GRPC' });
    assert.deepEqual(istioProtocol({ protocol: 'Http2' }, cfg), { protocol: 'HTTP2' });
    assert.deepEqual(istioProtocol({}, cfg), { protocol: 'TCP' });
    assert.deepEqual(istioProtocol({ protocol: 'dubbo' }, cfg), { protocol: 'TCP', issue: 'dubbo' });
  });

  it('config errors name the key', () => {
    assert.throws(
      () => source({ labelRules: [{ from: 'tag', match: '(' }], address: 'localhost:8500' }),
      (e: Error) => {
        assert.match(e.message, /sources\.0\.labelRules\.0\.match: not a valid regular expression/);
        assert.match(e.message, /sources\.0\.address: http\(s\):\/\/host:port/);
        return true;
      },
    );
    assert.throws(
      () =>
        parseConfig({
          kafka: { brokers: ['a:1'] },
          redis: { url: 'redis://a:1' },
          sources: [{ id: 'x', kind: 'etcd' }],
        }),
      /sources\.0\.kind/,
    );
  });
});
