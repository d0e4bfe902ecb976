import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addressProblem } from '../../services/collector/endpoint-check.ts';
import { normaliseDubboService } from '../../services/collector/normalise-dubbo.ts';
import { normaliseDubboApp } from '../../services/collector/normalise-dubbo-app.ts';
import { normaliseConsulService } from '../../services/collector/normalise-consul.ts';
import { normaliseNacosService } from '../../services/collector/normalise-nacos.ts';
import { normaliseEurekaApp } from '../../services/collector/normalise-eureka.ts';
import type { EurekaInstance } from '../../services/collector/eureka-apps.ts';
import { reasonCode } from '../../services/collector/problems.ts';
import { formatDubboProviderUrl } from '../../harness/dubbo-url-format.ts';
import { DubboAppRegistrar } from '../../harness/dubbo-app-registrar.ts';
import {
  parseConfig,
  type ConsulSourceConfig,
  type EurekaSourceConfig,
  type NacosSourceConfig,
  type SourceConfig,
  type ZooKeeperDubboSourceConfig,
} from '../../services/shared/config.ts';
import type { ConfigError } from '../../services/shared/errors.ts';
import type { ServiceState } from '../../services/collector/service-state.ts';

const base = { kafka: { brokers: ['127.0.0.1:9092'] }, redis: { url: 'redis://127.0.0.1:6379' } };
function source<T extends SourceConfig>(raw: Record<string, unknown>): T {
  return parseConfig({ ...base, sources: [{ id: 's1', ...raw }] }).sources[0] as T;
}

describe('addressProblem: which registered addresses can be a mesh endpoint', () => {
  const usable = ['10.0.0.1', '192.168.1.20', '2001:db8::1', 'fe80::1', '::ffff:10.0.0.1'];
  for (const a of usable) it(`given ${a}, then it is usable`, () => assert.equal(addressProblem(a, false), undefined));

  const loopback = ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'];
  for (const a of loopback) {
    it(`given ${a}, then it is a loopback address unless the source allows loopback`, () => {
      assert.match(addressProblem(a, false) ?? '', /^loopback address: .*allowLoopback: true/);
      assert.equal(addressProblem(a, true), undefined);
    });
  }

  for (const a of ['0.0.0.0', '::', '::ffff:0.0.0.0']) {
    it(`given ${a}, then it is unspecified even where loopback is allowed`, () => {
      assert.match(addressProblem(a, true) ?? '', /^unspecified address: /);
    });
  }

  it('given a host name, then it is not an IP address (as before)', () => {
    assert.match(addressProblem('provider-1.example', true) ?? '', /not an IP address/);
  });

  it('classifies each as its own bounded metric reason', () => {
    assert.equal(reasonCode(addressProblem('127.0.0.1', false)!), 'loopback');
    assert.equal(reasonCode(addressProblem('0.0.0.0', false)!), 'unspecified');
    assert.equal(reasonCode(addressProblem('example', false)!), 'not-ip');
  });
});

describe('allowLoopback in the configuration', () => {
  it('defaults to off on every kind of source', () => {
    for (const kind of [
      { kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181' },
      { kind: 'consul' },
      { kind: 'eureka' },
      { kind: 'nacos' },
    ]) {
      assert.equal(source(kind).allowLoopback, false, kind.kind);
    }
  });

  it('rejects a value that is not a boolean, naming the key', () => {
    assert.throws(
      () => parseConfig({ ...base, sources: [{ id: 'c1', kind: 'consul', allowLoopback: 'yes' }] }, 'test'),
      (e: ConfigError) => e.problems.some((p) => p.startsWith('sources.0.allowLoopback')),
    );
  });
});

/**
 * Every registry's normaliser, given one provider on a routable address and one on loopback, with the source's
 * allowLoopback as given: the addresses it publishes and the issues it reports.
 */
const registries: Record<string, (allowLoopback: boolean) => ServiceState> = {
  'zookeeper-dubbo (interface level)': (allowLoopback) =>
    normaliseDubboService(
      source<ZooKeeperDubboSourceConfig>({ kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181', allowLoopback }),
      'com.foo.DemoService',
      ['10.0.0.1', '127.0.0.1'].map((host) =>
        formatDubboProviderUrl({
          protocol: 'dubbo',
          host,
          port: 20880,
          path: 'com.foo.DemoService',
          params: { side: 'provider' },
        }),
      ),
    ),
  'zookeeper-dubbo (application level)': (allowLoopback) =>
    normaliseDubboApp(
      source<ZooKeeperDubboSourceConfig>({
        kind: 'zookeeper-dubbo',
        connect: '127.0.0.1:2181',
        mode: 'application',
        allowLoopback,
      }),
      'demo',
      ['10.0.0.1', '127.0.0.1'].map((ip) => ({
        name: `${ip}:20880`,
        data: Buffer.from(DubboAppRegistrar.instanceJson('demo', ip, 20880, {})),
      })),
    ),
  consul: (allowLoopback) =>
    normaliseConsulService(source<ConsulSourceConfig>({ kind: 'consul', allowLoopback }), {
      service: 'web',
      datacenter: 'dc1',
      entries: ['10.0.0.1', '127.0.0.1'].map((Address, i) => ({
        Node: { Node: `n${i}`, Address, Datacenter: 'dc1', Meta: {} },
        Service: { ID: `web-${i}`, Service: 'web', Address: '', Port: 8080, Tags: [], Meta: {} },
        Checks: [{ CheckID: 'c', Status: 'passing' }],
      })),
    }),
  nacos: (allowLoopback) =>
    normaliseNacosService(source<NacosSourceConfig>({ kind: 'nacos', allowLoopback }), {
      nacosNamespace: 'public',
      group: 'DEFAULT_GROUP',
      service: 'orders',
      serviceInfo: {
        name: 'orders',
        groupName: 'DEFAULT_GROUP',
        lastRefTime: 1,
        hosts: ['10.0.0.1', '127.0.0.1'].map((ip) => ({
          instanceId: `${ip}#8080`,
          ip,
          port: 8080,
          weight: 1,
          healthy: true,
          enabled: true,
          clusterName: 'DEFAULT',
          metadata: {},
        })),
      },
    }),
  eureka: (allowLoopback) =>
    normaliseEurekaApp(
      source<EurekaSourceConfig>({ kind: 'eureka', allowLoopback }),
      'ORDERS',
      ['10.0.0.1', '127.0.0.1'].map(
        (ipAddr): EurekaInstance => ({
          id: `${ipAddr}:orders:8080`,
          app: 'ORDERS',
          status: 'UP',
          ipAddr,
          hostName: ipAddr,
          port: 8080,
          portEnabled: true,
          securePort: undefined,
          securePortEnabled: false,
          metadata: {},
          vipAddress: 'orders',
          lastDirtyTimestamp: undefined,
        }),
      ),
    ),
};

for (const [name, normalise] of Object.entries(registries)) {
  describe(`${name}: a provider registered at a loopback address`, () => {
    it('given the default source, then it is skipped with an issue naming it, and the other provider is published', () => {
      const s = normalise(false);
      assert.deepEqual(
        s.instances.map((i) => i.address),
        ['10.0.0.1'],
      );
      assert.equal(s.issues.length, 1, JSON.stringify(s.issues));
      const [issue] = s.issues;
      assert.match(issue!.reason, /^loopback address/);
      assert.match(issue!.value, /127\.0\.0\.1/);
      assert.match(issue!.action, /skipped/);
    });

    it('given allowLoopback: true, then both are published and nothing is reported', () => {
      const s = normalise(true);
      assert.deepEqual(s.instances.map((i) => i.address).sort(), ['10.0.0.1', '127.0.0.1']);
      assert.deepEqual(s.issues, []);
    });
  });
}
