import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  appsFromDocument,
  applyDelta,
  parseAppsDocument,
  reconcileHashCode,
  refreshWithDelta,
  type EurekaApps,
} from '../../services/collector/eureka-apps.ts';
import { eurekaPeers } from '../../services/shared/eureka-peers.ts';
import { normaliseEurekaApp } from '../../services/collector/normalise-eureka.ts';
import { validateServiceEntry } from '../../schemas/service-entry/validate.ts';
import { parseConfig, type EurekaSourceConfig } from '../../services/shared/config.ts';
import type { ConfigError } from '../../services/shared/errors.ts';

function source(extra: Record<string, unknown> = {}): EurekaSourceConfig {
  const cfg = parseConfig({
    kafka: { brokers: ['127.0.0.1:9092'] },
    redis: { url: 'redis://127.0.0.1:6379' },
    sources: [{ id: 'e1', kind: 'eureka', ...extra }],
  });
  return cfg.sources[0] as EurekaSourceConfig;
}

/** An instance as Eureka's JSON codec writes it (the fields meshbridge reads, plus some it ignores). */
const inst = (o: {
  app?: string;
  id: string;
  ip?: string;
  status?: string;
  port?: unknown;
  securePort?: unknown;
  secureOn?: boolean;
  meta?: Record<string, unknown>;
  action?: string;
}) => ({
  instanceId: o.id,
  hostName: o.ip ?? '10.0.0.1',
  app: o.app ?? 'ORDERS',
  ipAddr: o.ip ?? '10.0.0.1',
  status: o.status ?? 'UP',
  overriddenStatus: 'UNKNOWN',
  port: { $: o.port ?? 8080, '@enabled': 'true' },
  securePort: { $: o.securePort ?? 8443, '@enabled': String(o.secureOn ?? false) },
  countryId: 1,
  dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
  leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
  metadata: o.meta ?? {},
  vipAddress: (o.app ?? 'ORDERS').toLowerCase(),
  ...(o.action ? { actionType: o.action } : {}),
});
type Inst = ReturnType<typeof inst>;
const doc = (instances: Inst[], hashcode?: string) => {
  const byApp = new Map<string, Inst[]>();
  for (const i of instances) byApp.set(i.app, [...(byApp.get(i.app) ?? []), i]);
  return {
    applications: {
      versions__delta: '1',
      ...(hashcode !== undefined ? { apps__hashcode: hashcode } : {}),
      application: [...byApp].map(([name, instance]) => ({ name, instance })),
    },
  };
};
const given = (instances: Inst[]): EurekaApps => appsFromDocument(parseAppsDocument(doc(instances)));
const ids = (apps: EurekaApps) => Object.fromEntries([...apps].map(([a, m]) => [a, [...m.keys()].sort()]));

describe('Eureka registry documents', () => {
  it('reads a full listing: instances by app and id, ports with their enabled flags, metadata', () => {
    const d = parseAppsDocument(
      doc(
        [
          inst({ id: 'o1', meta: { version: '1.2' } }),
          inst({ id: 'o2', ip: '10.0.0.2', secureOn: true }),
          inst({ app: 'USERS', id: 'u1' }),
        ],
        'UP_3_',
      ),
    );
    assert.equal(d.hashcode, 'UP_3_');
    assert.deepEqual(d.issues, []);
    const apps = appsFromDocument(d);
    assert.deepEqual(ids(apps), { ORDERS: ['o1', 'o2'], USERS: ['u1'] });
    const o2 = apps.get('ORDERS')!.get('o2')!;
    assert.deepEqual([o2.port, o2.portEnabled, o2.securePort, o2.securePortEnabled], [8080, true, 8443, true]);
    assert.deepEqual(apps.get('ORDERS')!.get('o1')!.metadata, { version: '1.2' });
  });

  it('accepts the one-element forms older codecs write (an object instead of a list)', () => {
    const d = parseAppsDocument({
      applications: { apps__hashcode: 'UP_1_', application: { name: 'A', instance: inst({ app: 'A', id: 'a1' }) } },
    });
    assert.deepEqual(ids(appsFromDocument(d)), { A: ['a1'] });
  });

  it('reports unreadable parts and keeps the rest; a non-document throws', () => {
    const d = parseAppsDocument({
      applications: {
        application: [
          { instance: [inst({ id: 'x' })] },
          {
            name: 'A',
            instance: [
              'junk',
              { hostName: '' },
              inst({ app: 'A', id: 'a1' }),
              inst({ app: 'A', id: 'a2', action: 'RENAMED' }),
            ],
          },
        ],
      },
    });
    assert.deepEqual(ids(appsFromDocument(d)), { A: ['a1'] });
    assert.deepEqual(
      d.issues.map((i) => [i.field, i.reason]),
      [
        ['application[0]', 'application without a name'],
        ['application[A].instance[0]', 'instance is not an object'],
        ['application[A].instance[1]', 'instance has neither instanceId nor hostName'],
        ['application[A].instance[3].actionType', 'not ADDED, MODIFIED or DELETED'],
      ],
    );
    assert.throws(() => parseAppsDocument('<applications/>'), /not a Eureka applications document/);
    assert.throws(() => parseAppsDocument({ apps: [] }), /not a Eureka applications document/);
  });

  it('an instance without instanceId is known by its hostName, as Eureka does', () => {
    const raw = { ...inst({ id: '' }), instanceId: undefined, hostName: 'orders-7' };
    assert.deepEqual(ids(appsFromDocument(parseAppsDocument(doc([raw as unknown as Inst])))), { ORDERS: ['orders-7'] });
  });
});

describe('Eureka reconcile hash code', () => {
  it('counts instances per status, statuses in order, as STATUS_count_', () => {
    const apps = given([
      inst({ id: 'a' }),
      inst({ id: 'b', status: 'DOWN' }),
      inst({ app: 'X', id: 'c' }),
      inst({ app: 'X', id: 'd', status: 'OUT_OF_SERVICE' }),
    ]);
    assert.equal(reconcileHashCode(apps), 'DOWN_1_OUT_OF_SERVICE_1_UP_2_');
  });
  it('is empty for an empty registry', () => {
    assert.equal(reconcileHashCode(new Map()), '');
  });
});

describe('Eureka delta protocol', () => {
  const base = () => given([inst({ id: 'o1' }), inst({ id: 'o2', ip: '10.0.0.2' }), inst({ app: 'USERS', id: 'u1' })]);

  it('given a copy, when a delta with a matching hash code adds, modifies and deletes, then it applies it', () => {
    const delta = parseAppsDocument(
      doc(
        [
          inst({ id: 'o3', ip: '10.0.0.3', action: 'ADDED' }),
          inst({ id: 'o2', ip: '10.0.0.2', status: 'DOWN', action: 'MODIFIED' }),
          inst({ app: 'USERS', id: 'u1', action: 'DELETED' }),
          inst({ app: 'CART', id: 'c1', action: 'ADDED' }),
        ],
        'DOWN_1_UP_3_',
      ),
    );
    const step = refreshWithDelta(base(), delta);
    assert.equal(step.type, 'apply');
    if (step.type !== 'apply') return;
    assert.deepEqual(step.changed, ['CART', 'ORDERS', 'USERS']);
    assert.deepEqual(ids(step.apps), { ORDERS: ['o1', 'o2', 'o3'], CART: ['c1'] });
    assert.equal(step.apps.get('ORDERS')!.get('o2')!.status, 'DOWN');
  });

  it('given a copy, when the hash code after the delta differs, then a full fetch is due instead', () => {
    // The copy missed an earlier delta (o9 registered meanwhile): the server counts 4 UP, the copy 3.
    const step = refreshWithDelta(
      base(),
      parseAppsDocument(doc([inst({ id: 'o1', action: 'MODIFIED', meta: { version: '2' } })], 'UP_4_')),
    );
    assert.deepEqual(step, { type: 'full-fetch', reason: 'hashcode-mismatch', expected: 'UP_4_', got: 'UP_3_' });
  });

  it('given a copy, when a delta has no hash code, then a full fetch is due', () => {
    const step = refreshWithDelta(base(), parseAppsDocument(doc([])));
    assert.equal(step.type, 'full-fetch');
    assert.equal(step.type === 'full-fetch' && step.reason, 'no-hashcode');
  });

  it('re-applying a delta (the server repeats changes until they age out) changes nothing', () => {
    const delta = parseAppsDocument(
      doc(
        [inst({ id: 'o3', ip: '10.0.0.3', action: 'ADDED' }), inst({ app: 'USERS', id: 'u1', action: 'DELETED' })],
        'UP_3_',
      ),
    );
    const once = applyDelta(base(), delta);
    const twice = applyDelta(once.apps, delta);
    assert.deepEqual(twice.changed, []);
    assert.deepEqual(ids(twice.apps), ids(once.apps));
  });

  it('does not modify the copy it is given; unchanged apps are shared', () => {
    const copy = base();
    const before = JSON.stringify(ids(copy));
    const res = applyDelta(copy, parseAppsDocument(doc([inst({ id: 'o1', action: 'DELETED' })], 'UP_2_')));
    assert.equal(JSON.stringify(ids(copy)), before);
    assert.equal(res.apps.get('USERS'), copy.get('USERS'));
  });

  it('deleting an instance it never saw is not a change', () => {
    assert.deepEqual(applyDelta(base(), parseAppsDocument(doc([inst({ id: 'zz', action: 'DELETED' })]))).changed, []);
  });
});

describe('normaliseEurekaApp', () => {
  const valid = (s: ReturnType<typeof normaliseEurekaApp>) =>
    validateServiceEntry({
      hosts: [s.host],
      ports: s.ports,
      location: 1,
      resolution: 1,
      endpoints: s.instances.map((i) => ({ address: i.address, ports: i.ports, labels: i.labels })),
    });
  const instancesOf = (list: Inst[]) => [...given(list).values()].flatMap((m) => [...m.values()]);

  it('UP instances only by default; app name → host; version metadata → label; istio-valid', () => {
    const s = normaliseEurekaApp(
      source(),
      'ORDERS-SERVICE',
      instancesOf([
        inst({ app: 'ORDERS-SERVICE', id: 'a', meta: { version: 'v2', 'management.port': '9090' } }),
        inst({ app: 'ORDERS-SERVICE', id: 'b', ip: '10.0.0.2', status: 'DOWN' }),
        inst({ app: 'ORDERS-SERVICE', id: 'c', ip: '10.0.0.3', status: 'STARTING' }),
        inst({ app: 'ORDERS-SERVICE', id: 'd', ip: '10.0.0.4', status: 'OUT_OF_SERVICE' }),
      ]),
    );
    assert.equal(s.host, 'orders-service');
    assert.equal(s.namespace, 'eureka');
    assert.deepEqual(s.ports, [{ name: 'http', number: 8080, protocol: 'HTTP' }]);
    assert.deepEqual(
      s.instances.map((i) => [i.address, i.labels]),
      [['10.0.0.1', { version: 'v2', 'meshbridge.io/source': 'e1' }]],
    );
    assert.deepEqual(s.issues, []);
    assert.deepEqual(valid(s), []);
  });

  it('other statuses when configured', () => {
    const list = instancesOf([inst({ id: 'a' }), inst({ id: 'b', ip: '10.0.0.2', status: 'DOWN' })]);
    assert.equal(normaliseEurekaApp(source({ statuses: ['UP', 'DOWN'] }), 'ORDERS', list).instances.length, 2);
  });

  it('secure and non-secure ports: both when enabled, or the one asked for', () => {
    const list = instancesOf([
      inst({ id: 'a', secureOn: true }),
      inst({ id: 'b', ip: '10.0.0.2', secureOn: true, securePort: 9443 }),
    ]);
    const both = normaliseEurekaApp(source(), 'ORDERS', list);
    assert.deepEqual(both.ports, [
      { name: 'http', number: 8080, protocol: 'HTTP' },
      { name: 'https', number: 8443, protocol: 'HTTPS' },
    ]);
    assert.deepEqual(
      both.instances.map((i) => i.ports),
      [
        { http: 8080, https: 8443 },
        { http: 8080, https: 9443 },
      ],
    );
    assert.deepEqual(
      normaliseEurekaApp(source({ ports: 'secure' }), 'ORDERS', list).instances.map((i) => i.ports),
      [{ https: 8443 }, { https: 9443 }],
    );
    assert.deepEqual(
      normaliseEurekaApp(source({ ports: 'non-secure' }), 'ORDERS', list).ports.map((p) => p.name),
      ['http'],
    );
  });

  it('a port only some instances serve is dropped (istio would send its traffic to all of them)', () => {
    const mixed = instancesOf([inst({ id: 'a', secureOn: true }), inst({ id: 'b', ip: '10.0.0.2' })]);
    const s = normaliseEurekaApp(source(), 'ORDERS', mixed);
    assert.deepEqual(
      s.ports.map((p) => p.name),
      ['http'],
    );
    assert.deepEqual(
      s.instances.map((i) => i.ports),
      [{ http: 8080 }, { http: 8080 }],
    );
    assert.deepEqual(
      s.issues.map((i) => [i.field, i.value, i.action]),
      [['ports', 'https', 'port dropped']],
    );
    // Secure only: b has no usable port at all.
    const secure = normaliseEurekaApp(source({ ports: 'secure' }), 'ORDERS', mixed);
    assert.deepEqual(
      secure.instances.map((i) => i.ports),
      [{ https: 8443 }],
    );
    assert.deepEqual(
      secure.issues.map((i) => [i.field, i.action]),
      [['instances[b]', 'instance skipped']],
    );
    // Disjoint ports: the one most instances serve wins; the others are left out and named.
    const disjoint = instancesOf([
      inst({ id: 'a', secureOn: true, port: 0 }),
      inst({ id: 'b', ip: '10.0.0.2' }),
      inst({ id: 'c', ip: '10.0.0.3' }),
    ]);
    const d = normaliseEurekaApp(
      source(),
      'ORDERS',
      disjoint.map((i) => (i.id === 'a' ? { ...i, portEnabled: false } : i)),
    );
    assert.deepEqual(
      d.instances.map((i) => i.address),
      ['10.0.0.2', '10.0.0.3'],
    );
    assert.deepEqual(
      d.issues.map((i) => [i.field, i.action]),
      [
        ['ports', 'port dropped'],
        ['instances[a]', 'instance skipped'],
      ],
    );
  });

  it('metadata → labels by rules, protocol from metadata, region/zone locality, host template over {vip}', () => {
    const s = normaliseEurekaApp(
      source({
        labelRules: [
          { from: 'metadata', match: 'team' },
          { from: 'metadata', match: 'k8s-(.*)', label: 'k8s/$1' },
        ],
        region: 'eu-west',
        hostTemplate: '{vip}.svc',
        defaultProtocol: 'TCP',
      }),
      'ORDERS',
      instancesOf([inst({ id: 'a', meta: { team: 'payments', 'k8s-tier': 'backend', protocol: 'grpc', zone: 'z1' } })]),
    );
    assert.equal(s.host, 'orders.svc');
    assert.deepEqual(s.ports, [{ name: 'grpc', number: 8080, protocol: 'GRPC' }]);
    assert.deepEqual(s.instances[0]!.labels, { team: 'payments', 'k8s/tier': 'backend', 'meshbridge.io/source': 'e1' });
    assert.equal(s.instances[0]!.locality, 'eu-west/z1');
  });

  it('reports bad instances by field and keeps the good ones', () => {
    const s = normaliseEurekaApp(
      source(),
      'ORDERS',
      instancesOf([
        inst({ id: 'ok', ip: '10.1.0.1' }),
        inst({ id: 'host', ip: 'orders.example.com' }),
        inst({ id: 'port0', ip: '10.1.0.2', port: 0 }),
        inst({ id: 'port-big', ip: '10.1.0.3', port: 70000 }),
        inst({ id: 'proto', ip: '10.1.0.4', meta: { protocol: 'thrift' } }),
        inst({ id: 'label', ip: '10.1.0.5', meta: { version: 'v1 (canary)!' } }),
      ]),
    );
    assert.deepEqual(
      s.instances.map((i) => i.address),
      ['10.1.0.1', '10.1.0.4', '10.1.0.5'],
    );
    assert.deepEqual(
      s.issues.map((i) => [i.field, i.action]),
      [
        ['instances[host].ipAddr', 'instance skipped'],
        ['instances[label].labels[version]', 'rewritten to "v1--canary"'],
        ['instances[port-big].port', 'port skipped'],
        ['instances[port-big]', 'instance skipped'],
        ['instances[port0].port', 'port skipped'],
        ['instances[port0]', 'instance skipped'],
        ['instances[proto].metadata.protocol', 'treated as HTTP'],
      ],
    );
    assert.deepEqual(valid(s), []);
  });
});

describe('Eureka source configuration', () => {
  it('defaults: one local peer, UP only, both ports, 5 s refresh', () => {
    const s = source();
    assert.deepEqual(
      [s.serviceUrls, s.statuses, s.ports, s.refreshIntervalMs, s.namespace, s.hostTemplate],
      [['http://127.0.0.1:8761/eureka'], ['UP'], 'enabled', 5000, 'eureka', '{app}'],
    );
  });
  it('typos get a suggestion; a status Eureka does not have is refused', () => {
    assert.throws(
      () => source({ serviceUrl: ['http://a:1/eureka'], statuses: ['HEALTHY'] }),
      (e: ConfigError) => {
        const p = e.problems.join('\n');
        assert.match(p, /sources\.0\.serviceUrl: unknown key; did you mean "serviceUrls"\?/);
        assert.match(p, /sources\.0\.statuses\.0: /);
        return true;
      },
    );
  });
  it('credentials in a service URL become a basic auth header; the URL loses them', () => {
    const peers = eurekaPeers({
      serviceUrls: ['http://user:p%40ss@eureka-1:8761/eureka/', 'http://eureka-2:8761/eureka'],
      username: 'u2',
      password: 'x',
    });
    assert.deepEqual(peers, [
      { url: 'http://eureka-1:8761/eureka', authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}` },
      { url: 'http://eureka-2:8761/eureka', authorization: `Basic ${Buffer.from('u2:x').toString('base64')}` },
    ]);
  });
});
