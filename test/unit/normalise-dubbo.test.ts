import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseDubboService, providerParamsRead } from '../../services/collector/normalise-dubbo.ts';
import { formatDubboProviderUrl } from '../../harness/dubbo-url-format.ts';
import {
  isValidLabelKey,
  isValidLabelValue,
  sanitiseLabels,
  sanitiseLabelValue,
} from '../../services/collector/labels.ts';
import { dnsName, renderHost } from '../../services/collector/naming.ts';
import { parseConfig, type SourceConfig, type ZooKeeperDubboSourceConfig } from '../../services/shared/config.ts';
import { ProviderParseCache } from '../../services/collector/provider-parse-cache.ts';
import { validateServiceEntry } from '../../schemas/service-entry/validate.ts';

function source(extra: Partial<SourceConfig> = {}): ZooKeeperDubboSourceConfig {
  const cfg = parseConfig({
    kafka: { brokers: ['127.0.0.1:9092'] },
    redis: { url: 'redis://127.0.0.1:6379' },
    sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181', ...extra }],
  });
  const s = cfg.sources[0]!;
  assert.equal(s.kind, 'zookeeper-dubbo');
  return s as ZooKeeperDubboSourceConfig;
}
const url = (
  host: string,
  port: number,
  params: Record<string, string> = {},
  protocol = 'dubbo',
  path = 'com.foo.DemoService',
) => formatDubboProviderUrl({ protocol, host, port, path, params: { side: 'provider', ...params } });

describe('normaliseDubboService', () => {
  describe('weights (istio reads a missing weight as 1, Dubbo as 100)', () => {
    const weights = (children: string[]) =>
      normaliseDubboService(source(), 'com.foo.DemoService', children).instances.map((i) => [i.address, i.weight]);

    it('given no provider with a weight, then none is published (equal shares)', () => {
      assert.deepEqual(weights([url('10.0.0.1', 20880), url('10.0.0.2', 20880)]), [
        ['10.0.0.1', 0],
        ['10.0.0.2', 0],
      ]);
    });

    it("given weight=100 beside a provider without one, then both are published at Dubbo's 100", () => {
      assert.deepEqual(weights([url('10.0.0.1', 20880, { weight: '100' }), url('10.0.0.2', 20880)]), [
        ['10.0.0.1', 0],
        ['10.0.0.2', 0],
      ]);
    });

    it('given weight=200 beside a provider without one, then 200 and 100', () => {
      assert.deepEqual(weights([url('10.0.0.1', 20880, { weight: '200' }), url('10.0.0.2', 20880)]), [
        ['10.0.0.1', 200],
        ['10.0.0.2', 100],
      ]);
    });

    it("given a malformed weight, then Dubbo's default", () => {
      assert.deepEqual(
        weights([url('10.0.0.1', 20880, { weight: 'heavy' }), url('10.0.0.2', 20880, { weight: '50' })]),
        [
          ['10.0.0.1', 100],
          ['10.0.0.2', 50],
        ],
      );
    });
  });

  it('given providers with the same labels and port, then their instances share one labels and one ports record', () => {
    const children = Array.from({ length: 10 }, (_, i) =>
      url(`10.0.0.${i + 1}`, 20880, { application: 'demo', version: '1.0.0' }),
    );
    children.push(url('10.0.1.1', 20880, { application: 'other', version: '1.0.0' }));
    const cache = new ProviderParseCache(providerParamsRead({}));
    const s = normaliseDubboService(
      source(),
      'com.foo.DemoService',
      children,
      cache.parserFor('com.foo.DemoService', children),
    );
    const demo = s.instances.filter((i) => i.labels.app === 'demo');
    assert.equal(demo.length, 10);
    assert.ok(demo.every((i) => i.labels === demo[0]!.labels && i.ports === demo[0]!.ports));
    const other = s.instances.find((i) => i.labels.app === 'other')!;
    assert.notEqual(other.labels, demo[0]!.labels);
    assert.deepEqual(other.labels, { ...demo[0]!.labels, app: 'other' });
    assert.equal(other.ports, demo[0]!.ports, 'same port, same record');
    // The parse cache keeps one record of the parameters the providers share.
    const parse = cache.parserFor('com.foo.DemoService', children);
    const p1 = parse(children[0]!);
    const p2 = parse(children[1]!);
    assert.ok(p1.ok && p2.ok && p1.value.params === p2.value.params);
  });

  it('turns providers into an istio-valid service: DNS host, TCP port named by protocol, one endpoint each', () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService', [
      url('10.0.0.2', 20880, { version: '1.0.0' }),
      url('10.0.0.1', 20880, { application: 'demo' }),
    ]);
    assert.equal(s.host, 'com.foo.demoservice');
    assert.equal(s.namespace, 'dubbo');
    assert.deepEqual(s.ports, [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }]);
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.deepEqual(s.instances[0]!.labels, { app: 'demo', 'meshbridge.io/source': 'zk1' });
    assert.equal(s.instances[1]!.labels.version, '1.0.0');
    assert.deepEqual(s.issues, []);
  });

  it('maps Dubbo protocols to TCP (istiod rejects DUBBO) and keeps each protocol its own port', () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService', [
      url('10.0.0.1', 20880),
      url('10.0.0.1', 50051, {}, 'tri'),
    ]);
    assert.deepEqual(s.ports, [
      { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
      { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
    ]);
    assert.equal(s.instances.length, 1, 'one process serving two protocols is one endpoint');
    assert.deepEqual(s.instances[0]!.ports, { 'tcp-dubbo': 20880, 'tcp-tri': 50051 });
  });

  it('excludes disabled, zero-weight and consumer registrations by default, and includes them when configured', () => {
    const children = [
      url('10.0.0.1', 20880),
      url('10.0.0.2', 20880, { enabled: 'false' }),
      url('10.0.0.3', 20880, { weight: '0' }),
      url('10.0.0.4', 20880, { side: 'consumer' }),
    ];
    assert.deepEqual(
      normaliseDubboService(source(), 'com.foo.DemoService', children).instances.map((i) => i.address),
      ['10.0.0.1'],
    );
    const all = normaliseDubboService(
      source({ includeDisabled: true, includeZeroWeight: true }),
      'com.foo.DemoService',
      children,
    );
    assert.deepEqual(
      all.instances.map((i) => i.address),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
    );
  });

  it("given an empty weight (weight=), then the provider is kept at Dubbo's default, not excluded as zero-weight", () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService', [
      url('10.0.0.1', 20880, { weight: '' }),
      url('10.0.0.2', 20880, { weight: '200' }),
    ]);
    assert.deepEqual(
      s.instances.map((i) => [i.address, i.weight]),
      [
        ['10.0.0.1', 100],
        ['10.0.0.2', 200],
      ],
    );
  });

  it('reports a malformed provider and keeps the valid ones', () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService', [
      url('10.0.0.1', 20880),
      encodeURIComponent('dubbo://not-an-ip:20880/com.foo.DemoService'),
      '%zz',
    ]);
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.0.0.1'],
    );
    assert.equal(s.issues.length, 2);
    assert.match(s.issues[0]!.field, /providers\.host/);
    assert.match(s.issues[1]!.reason, /URL-encoding/);
  });

  it('sanitises label values istiod would reject, reporting each rewrite', () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService', [
      url('10.0.0.1', 20880, { version: '1.0.0 (beta)', application: 'x'.repeat(80) }),
    ]);
    const labels = s.instances[0]!.labels;
    for (const [k, v] of Object.entries(labels)) assert.ok(isValidLabelKey(k) && isValidLabelValue(v), `${k}=${v}`);
    assert.equal(labels.version, '1.0.0--beta');
    assert.equal(s.issues.length, 2);
    assert.ok(s.issues.every((i) => i.action.startsWith('rewritten')));
  });

  it('uses a configured host template and always yields a DNS name', () => {
    const s = normaliseDubboService(source({ hostTemplate: '{version}.{group}.{interface}' }), 'com.foo.Demo_Service', [
      url('10.0.0.1', 20880, { version: '1.0.0', group: 'Blue' }, 'dubbo', 'com.foo.Demo_Service'),
    ]);
    assert.equal(s.host, '1-0-0.blue.com.foo.demo-service');
  });

  it('produces a ServiceEntry body that passes istiod validation', () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService:1.0.0', [
      url('10.0.0.1', 20880, { version: '1.0.0 beta' }),
    ]);
    assert.deepEqual(
      validateServiceEntry({ hosts: [s.host], ports: s.ports, location: 1, resolution: 1, endpoints: s.instances }),
      [],
    );
  });
});

describe('label rules (provider URL parameters to endpoint labels)', () => {
  const labelsOf = (extra: Record<string, unknown>, params: Record<string, string>) =>
    normaliseDubboService(source(extra as Partial<SourceConfig>), 'com.foo.DemoService', [
      url('10.0.0.1', 20880, params),
    ]).instances[0]?.labels;

  it("given no rules, then application, version, group, release and Dubbo's tag become labels; other parameters do not", () => {
    assert.deepEqual(
      labelsOf(
        {},
        {
          application: 'demo',
          version: '1.0.0',
          group: 'g1',
          release: '3.2.9',
          'dubbo.tag': 'gray',
          methods: 'a,b',
          timestamp: '1',
        },
      ),
      {
        app: 'demo',
        version: '1.0.0',
        'dubbo.apache.org/group': 'g1',
        'dubbo.apache.org/release': '3.2.9',
        'dubbo.apache.org/tag': 'gray',
        'meshbridge.io/source': 'zk1',
      },
    );
  });

  it('given an empty parameter (version=), then no label comes from it', () => {
    assert.deepEqual(labelsOf({}, { application: 'demo', version: '', 'dubbo.tag': '' }), {
      app: 'demo',
      'meshbridge.io/source': 'zk1',
    });
  });

  it('given rules, then they replace the defaults: templates over the match, {value}, the first rule to set a label wins', () => {
    const rules = [
      { from: 'param', match: 'application', label: 'app' },
      { from: 'param', match: 'env', label: 'track', value: 'env-{value}' },
      { from: 'param', match: 'dubbo\\.tag', label: 'track' },
      { from: 'param', match: 'x-(.+)', label: 'example.com/$1' },
    ];
    assert.deepEqual(
      labelsOf(
        { labelRules: rules },
        { application: 'demo', version: '1.0.0', env: 'prod', 'dubbo.tag': 'gray', 'x-zone': 'a' },
      ),
      { app: 'demo', track: 'env-prod', 'example.com/zone': 'a', 'meshbridge.io/source': 'zk1' },
    );
  });

  it('given labelRules: [], then an endpoint carries only its source label', () => {
    assert.deepEqual(labelsOf({ labelRules: [] }, { application: 'demo', version: '1.0.0' }), {
      'meshbridge.io/source': 'zk1',
    });
  });

  it('given a parameter value istio would reject, then it is rewritten and reported, the provider kept', () => {
    const s = normaliseDubboService(source(), 'com.foo.DemoService', [
      url('10.0.0.1', 20880, { 'dubbo.tag': 'gray release!' }),
    ]);
    assert.equal(s.instances[0]?.labels['dubbo.apache.org/tag'], 'gray-release');
    assert.deepEqual(
      s.issues.map((i) => [i.field, i.action]),
      [['providers[10.0.0.1:20880].labels[dubbo.apache.org/tag]', 'rewritten to "gray-release"']],
    );
  });
});

describe('labels and names', () => {
  it('validates Kubernetes label keys and values', () => {
    assert.ok(
      isValidLabelKey('app') &&
        isValidLabelKey('dubbo.apache.org/group') &&
        !isValidLabelKey('Bad/Prefix/x') &&
        !isValidLabelKey('-x'),
    );
    assert.ok(
      isValidLabelValue('') &&
        isValidLabelValue('v1.0_a') &&
        !isValidLabelValue('a b') &&
        !isValidLabelValue('x'.repeat(64)),
    );
  });
  it('sanitises values: invalid chars to -, trimmed ends, long values hashed to 63', () => {
    assert.equal(sanitiseLabelValue('  hello world!  '), 'hello-world');
    const long = sanitiseLabelValue('y'.repeat(100))!;
    assert.equal(long.length <= 63, true);
    assert.notEqual(sanitiseLabelValue('y'.repeat(100)), sanitiseLabelValue(`${'y'.repeat(99)}z`));
    assert.equal(sanitiseLabelValue('!!!'), undefined);
  });
  it('drops invalid keys with a report', () => {
    const r = sanitiseLabels({ ok: 'v', 'bad key': 'v' }, 'x');
    assert.deepEqual(r.labels, { ok: 'v' });
    assert.equal(r.issues[0]!.action, 'dropped');
  });
  it('builds DNS names without colons or upper case', () => {
    assert.equal(dnsName('com.Foo.Svc:1.0.0'), 'com.foo.svc-1.0.0');
    assert.equal(renderHost('{interface}', { interface: 'A..B' }), 'a.b');
  });
});

describe('normaliseDubboService over the ZooKeeper source parse cache', () => {
  it('given providers cached with only the parameters it reads, then the service is the same as from full parses', () => {
    const rich = (host: string, extra: Record<string, string>) =>
      url(host, 20880, {
        anyhost: 'true',
        application: 'demo-provider',
        dubbo: '2.0.2',
        group: 'g1',
        interface: 'com.foo.DemoService',
        methods: 'sayHello,sayGoodbye,ping',
        release: '3.2.9',
        revision: '1.0.0',
        timestamp: '1700000000000',
        version: '1.0.0',
        ...extra,
      });
    const children = [
      rich('10.0.0.1', {}),
      rich('10.0.0.2', { weight: '50' }),
      rich('10.0.0.3', { weight: '0' }),
      rich('10.0.0.4', { enabled: 'false' }),
      rich('10.0.0.5', { disabled: 'true' }),
      rich('10.0.0.6', { side: 'consumer' }),
      url('10.0.0.7', 20881, { application: 'other' }, 'tri'),
      rich('10.0.0.8', { 'dubbo.tag': 'gray', 'x-zone': 'a', 'x-rack': 'r1' }),
    ];
    for (const extra of [
      {},
      { includeDisabled: true, includeZeroWeight: true },
      { hostTemplate: '{group}.{version}.{interface}' },
      // Rules reading parameters no default rule reads: the cache must keep exactly those too.
      { labelRules: [{ from: 'param', match: 'x-(.+)', label: 'example.com/$1' }] },
      { labelRules: [] },
    ]) {
      const src = source(extra as Partial<SourceConfig>);
      const full = normaliseDubboService(src, 'com.foo.DemoService', children);
      const cached = normaliseDubboService(
        src,
        'com.foo.DemoService',
        children,
        new ProviderParseCache(providerParamsRead(src)).parserFor('com.foo.DemoService', children),
      );
      assert.deepEqual(cached, full, JSON.stringify(extra));
    }
    const custom = normaliseDubboService(
      source({ labelRules: [{ from: 'param', match: 'x-(.+)', label: 'example.com/$1' }] } as Partial<SourceConfig>),
      'com.foo.DemoService',
      children,
    );
    assert.deepEqual(custom.instances.find((i) => i.address === '10.0.0.8')?.labels, {
      'example.com/rack': 'r1',
      'example.com/zone': 'a',
      'meshbridge.io/source': 'zk1',
    });
  });
});
