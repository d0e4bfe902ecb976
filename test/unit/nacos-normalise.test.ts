import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nacosKey, normaliseNacosService, templateVars } from '../../services/collector/normalise-nacos.ts';
import { decodePayload, encodePayload } from '../../services/collector/nacos-grpc.ts';
import type { ConfigError } from '../../services/shared/errors.ts';
import { parseConfig, type NacosSourceConfig } from '../../services/shared/config.ts';
import { validateServiceEntry } from '../../schemas/service-entry/validate.ts';

const base = { kafka: { brokers: ['127.0.0.1:9092'] }, redis: { url: 'redis://127.0.0.1:6379' } };
function source(extra: Record<string, unknown> = {}): NacosSourceConfig {
  return parseConfig({ ...base, sources: [{ id: 'n1', kind: 'nacos', ...extra }] }).sources[0] as NacosSourceConfig;
}
function problemsOf(src: Record<string, unknown>): string[] {
  try {
    parseConfig({ ...base, sources: [src] }, 'test');
    return [];
  } catch (e) {
    return (e as ConfigError).problems.map((p) => p.replace(/ \(in test\)$/, ''));
  }
}

const host = (o: Record<string, unknown> = {}) => ({
  instanceId: `${o.ip ?? '10.0.0.1'}#8080`,
  ip: '10.0.0.1',
  port: 8080,
  weight: 1,
  healthy: true,
  enabled: true,
  ephemeral: true,
  clusterName: 'DEFAULT',
  serviceName: 'DEFAULT_GROUP@@orders',
  metadata: {},
  ...o,
});
const obs = (hosts: unknown, service = 'orders') => ({
  nacosNamespace: 'public',
  group: 'DEFAULT_GROUP',
  service,
  serviceInfo: { name: service, groupName: 'DEFAULT_GROUP', hosts, lastRefTime: 1 },
});

const valid = (s: ReturnType<typeof normaliseNacosService>) =>
  validateServiceEntry({
    hosts: [s.host],
    ports: s.ports,
    location: 1,
    resolution: 1,
    endpoints: s.instances.map((i) => ({ address: i.address, ports: i.ports, labels: i.labels })),
  });

describe('normaliseNacosService', () => {
  it('builds an istio-valid service: host from the name, protocol and version from metadata, cluster as a label', () => {
    const s = normaliseNacosService(
      source(),
      obs(
        [
          host({ ip: '10.0.0.2', metadata: { protocol: 'http', version: 'v2' }, clusterName: 'hz-a' }),
          host({ ip: '10.0.0.1', metadata: { protocol: 'http' }, weight: 0.5, ephemeral: false }),
        ],
        'Orders_API',
      ),
    );
    assert.equal(s.host, 'orders-api');
    assert.equal(s.namespace, 'nacos');
    assert.equal(s.registryService, 'public/DEFAULT_GROUP@@Orders_API');
    assert.deepEqual(s.ports, [{ name: 'http', number: 8080, protocol: 'HTTP' }]);
    assert.deepEqual(
      s.instances.map((i) => [i.address, i.weight]),
      [
        ['10.0.0.1', 50],
        ['10.0.0.2', 100],
      ],
    );
    assert.deepEqual(s.instances[1]!.labels, {
      version: 'v2',
      'nacos.io/cluster': 'hz-a',
      'meshbridge.io/source': 'n1',
    });
    assert.deepEqual(s.issues, []);
    assert.deepEqual(valid(s), []);
  });

  it('leaves out unhealthy, disabled and zero-weight instances unless configured otherwise', () => {
    const hosts = [
      host(),
      host({ ip: '10.0.0.2', healthy: false }),
      host({ ip: '10.0.0.3', enabled: false }),
      host({ ip: '10.0.0.4', weight: 0 }),
    ];
    assert.deepEqual(
      normaliseNacosService(source(), obs(hosts)).instances.map((i) => i.address),
      ['10.0.0.1'],
    );
    const all = normaliseNacosService(
      source({ includeUnhealthy: true, includeDisabled: true, includeZeroWeight: true }),
      obs(hosts),
    );
    assert.deepEqual(
      all.instances.map((i) => i.address),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'],
    );
  });

  it('selects clusters, and takes locality from configured metadata keys', () => {
    const hosts = [
      host({ clusterName: 'a', metadata: { region: 'cn-east', zone: 'z1' } }),
      host({ ip: '10.0.0.2', clusterName: 'b' }),
    ];
    const s = normaliseNacosService(
      source({ clusters: ['a'], localityMeta: { region: 'region', zone: 'zone' } }),
      obs(hosts),
    );
    assert.deepEqual(
      s.instances.map((i) => [i.address, i.locality]),
      [['10.0.0.1', 'cn-east/z1']],
    );
  });

  it('maps Dubbo interface registrations to the interface name, and Dubbo protocols to istio ones', () => {
    const name = 'providers:org.example.Greeter:1.0.0:';
    assert.deepEqual(
      templateVars({ nacosNamespace: 'public', group: 'DEFAULT_GROUP', service: name }, 'n1').version,
      '1.0.0',
    );
    const s = normaliseNacosService(
      source(),
      obs([host({ port: 20880, metadata: { protocol: 'dubbo', version: '1.0.0' } })], name),
    );
    assert.equal(s.host, 'org.example.greeter');
    assert.deepEqual(s.ports, [{ name: 'tcp', number: 20880, protocol: 'TCP' }]);
    const v = normaliseNacosService(source({ interfaceHostTemplate: '{version}.{interface}' }), obs([host()], name));
    assert.equal(v.host, '1-0-0.org.example.greeter');
  });

  it('reports bad instances by field and keeps the good ones', () => {
    const s = normaliseNacosService(
      source(),
      obs([
        host(),
        host({ ip: 'db.internal' }),
        host({ ip: '10.0.0.3', port: 70000 }),
        'junk',
        host({ ip: '10.0.0.5', metadata: { protocol: 'carrier-pigeon', 'bad key!': 'x', version: 'v 1' } }),
      ]),
    );
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.0.0.1', '10.0.0.5'],
    );
    const fields = s.issues.map((i) => i.field);
    assert.ok(fields.includes('instances[db.internal#8080].ip'), fields.join());
    assert.ok(fields.includes('instances[10.0.0.3#8080].port'), fields.join());
    assert.ok(fields.includes('instances[3]'), fields.join());
    assert.ok(fields.includes('instances[10.0.0.5#8080].metadata.protocol'), fields.join());
    assert.ok(fields.includes('instances[10.0.0.5#8080].labels[version]'), fields.join());
    assert.deepEqual(valid(s), []);
  });

  it('reads a service info that is not an object, or a host list that is not a list, as empty and says so', () => {
    const a = normaliseNacosService(source(), {
      nacosNamespace: 'public',
      group: 'G',
      service: 'x',
      serviceInfo: 'nope',
    });
    assert.deepEqual([a.instances, a.issues.map((i) => i.field)], [[], ['serviceInfo']]);
    const b = normaliseNacosService(source(), obs({ not: 'a list' }));
    assert.deepEqual([b.instances, b.issues.map((i) => i.field)], [[], ['hosts']]);
    // An empty service (every instance gone) is a valid, empty state.
    assert.deepEqual(normaliseNacosService(source(), obs([])).issues, []);
  });

  it('keys services by namespace, group and name', () => {
    assert.equal(nacosKey('dev', 'G', 's'), 'dev/G@@s');
  });
});

describe('nacos source config', () => {
  it('has defaults for a local server', () => {
    const s = source();
    assert.deepEqual(
      [s.address, s.nacosNamespaces, s.groups, s.namespace, s.listIntervalMs],
      ['http://127.0.0.1:8848', ['public'], ['DEFAULT_GROUP'], 'nacos', 2000],
    );
  });
  it('suggests the nearest key and checks the auth combination', () => {
    assert.deepEqual(problemsOf({ id: 'n1', kind: 'nacos', grpcPrt: 9848 }), [
      'sources.0.grpcPrt: unknown key; did you mean "grpcPort"?',
    ]);
    assert.deepEqual(problemsOf({ id: 'n1', kind: 'nacos', username: 'u' }), [
      'sources.0.password: required (or passwordFile)',
    ]);
    assert.deepEqual(problemsOf({ id: 'n1', kind: 'nacos', password: 'p' }), [
      'sources.0.username: password needs a username',
    ]);
    assert.deepEqual(problemsOf({ id: 'n1', kind: 'nacos', username: 'u', password: 'p', accessToken: 't' }), [
      'sources.0.accessToken: set username/password or accessToken, not both',
    ]);
    assert.deepEqual(problemsOf({ id: 'n1', kind: 'nacos', connect: 'x:1' }), [
      'sources.0.connect: unknown key here (a key of kind zookeeper-dubbo, this source is nacos)',
    ]);
    assert.deepEqual(problemsOf({ id: 'n1', kind: 'nacos', labelRules: [{ from: 'tag', match: 'x' }] }).length, 1);
  });
});

describe('Nacos gRPC payload', () => {
  it('round-trips type, headers and JSON body', () => {
    const m = decodePayload(
      encodePayload('ServiceListRequest', { namespace: 'public', pageNo: 1 }, { accessToken: 't' }),
    );
    assert.deepEqual(m, {
      type: 'ServiceListRequest',
      body: { namespace: 'public', pageNo: 1 },
      headers: { accessToken: 't' },
    });
  });
});
