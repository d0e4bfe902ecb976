import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startNacos, type NacosServer } from '../../harness/nacos.ts';
import { NacosRegistrar, type NacosInstance } from '../../harness/nacos-registrar.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { serviceEntries } from '../support/istiod-view.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';

const IFACE = 'org.meshbridge.demo.MoveService';
const HOST = 'org.meshbridge.demo.moveservice';
const CLUSTER = `outbound|20880||${HOST}`;
/** How Dubbo names an interface-level registration in Nacos (no version, no group). */
const NACOS_SERVICE = { service: `providers:${IFACE}::` };

// The most common registry move in Dubbo shops: ZooKeeper to Nacos. For a while providers are registered in
// ZooKeeper only, in both, or in Nacos only, and both sources feed one mesh service (same namespace). The two
// registries name the port differently (ZooKeeper's tcp-dubbo, Nacos's tcp) and state weights on different terms
// (ZooKeeper leaves equal ones out, istio reads that as 1; Nacos's 1.0 is published as 100).
describe('a Dubbo fleet moving from ZooKeeper to Nacos: every provider served, at its share', () => {
  let servers: Servers;
  let nacos: NacosServer;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let zk: DubboRegistrar;
  let legacy: DubboRegistrar;
  let reg: NacosRegistrar;
  const inNacos = (ip: string, weight = 1): NacosInstance => ({
    ip,
    port: 20880,
    weight,
    metadata: { protocol: 'dubbo', side: 'provider' },
  });

  before(async () => {
    const runDir = makeRunDir('e2e-zookeeper-nacos-move');
    [servers, nacos] = await Promise.all([startServers(runDir, { istiod: true }), startNacos(runDir)]);
    const suffix = Math.random().toString(36).slice(2, 8);
    const root = `/dubbo-move-${suffix}`;
    mb = await pipeline(servers, {
      sources: [
        { id: 'zk', kind: 'zookeeper-dubbo', connect: servers.zookeeper.connectString, root, sessionTimeoutMs: 4000 },
        // Same mesh namespace as the ZooKeeper source (its default, dubbo): one mesh service, not two.
        {
          id: 'nacos',
          kind: 'nacos',
          address: nacos.address,
          namespace: 'dubbo',
          fuzzyWatch: false,
          listIntervalMs: 1000,
        },
        // A third registry left in a mesh namespace of its own: the misconfiguration `meshbridge status` warns about.
        {
          id: 'zk-legacy',
          kind: 'zookeeper-dubbo',
          connect: servers.zookeeper.connectString,
          root: `/dubbo-legacy-${suffix}`,
          namespace: 'legacy',
          sessionTimeoutMs: 4000,
        },
      ],
    });
    zk = await DubboRegistrar.open(servers.zookeeper.connectString, root);
    legacy = await DubboRegistrar.open(servers.zookeeper.connectString, `/dubbo-legacy-${suffix}`);
    reg = new NacosRegistrar(nacos);
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
  });

  after(async () => {
    zk?.close();
    legacy?.close();
    reg?.close();
    await istiod?.stop();
    await mb?.stop();
    await nacos?.stop();
    await servers?.stop();
  });

  const entry = async () => (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST));
  const sidecarWeights = async () =>
    (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER)).weights[CLUSTER];

  it('serves providers of either registry and of both once each, with equal shares, then Nacos weights as Dubbo reads them', async () => {
    await zk.register(IFACE, '10.0.5.1', 20880); // in both registries
    await zk.register(IFACE, '10.0.5.2', 20880); // still in ZooKeeper only
    await reg.register(NACOS_SERVICE, inNacos('10.0.5.1'));
    await reg.register(NACOS_SERVICE, inNacos('10.0.5.3')); // already in Nacos only
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 60_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);

    const se = await waitFor(
      async () => {
        const s = await entry();
        return s?.metadata.annotations?.['meshbridge.io/sources'] === 'nacos,zk' && s.spec.endpoints?.length >= 2
          ? s
          : undefined;
      },
      { what: `${HOST} from both registries in istiod configz`, timeoutMs: 90_000, intervalMs: 250 },
    );
    assert.deepEqual(se.spec.ports, [{ number: 20880, protocol: 'TCP', name: 'tcp' }]);
    assert.deepEqual(
      // Every provider on the service port: no endpoint names one (istiod infers it).
      se.spec.endpoints.map((e: { address: string; ports?: Record<string, number> }) => [e.address, e.ports]),
      [
        ['10.0.5.1', undefined],
        ['10.0.5.2', undefined],
        ['10.0.5.3', undefined],
      ],
      'the ZooKeeper-only provider is served too, on the service port (the name the first source gave)',
    );
    const equal = await waitFor(async () => ((await sidecarWeights()) ? sidecarWeights() : undefined), {
      what: `EDS for ${CLUSTER}`,
      timeoutMs: 30_000,
    });
    assert.deepEqual(equal, { '10.0.5.1:20880': 1, '10.0.5.2:20880': 1, '10.0.5.3:20880': 1 }, 'equal shares');

    // An operator doubles the Nacos-only provider's weight (2.0): the ZooKeeper providers keep Dubbo's default share.
    await reg.register(NACOS_SERVICE, inNacos('10.0.5.3', 2));
    const weighted = await waitFor(
      async () => {
        const w = await sidecarWeights();
        return w?.['10.0.5.3:20880'] !== 1 ? w : undefined;
      },
      { what: 'the new weight at the sidecar', timeoutMs: 30_000 },
    );
    assert.deepEqual(weighted, { '10.0.5.1:20880': 100, '10.0.5.2:20880': 100, '10.0.5.3:20880': 200 });
  });

  it('one host in two mesh namespaces: a sidecar uses one of them, and meshbridge status names it', async () => {
    await legacy.register(IFACE, '10.0.8.1', 20880);
    await waitFor(
      async () =>
        (await serviceEntries(istiod.debug)).some(
          (c) => c.metadata.namespace === 'legacy' && c.spec.hosts?.includes(HOST),
        ) || undefined,
      { what: `legacy/${HOST} in istiod configz`, timeoutMs: 30_000 },
    );
    // What the warning is about: istiod holds both ServiceEntries, the sidecar gets the older one's endpoints only.
    const eds = (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER)).endpoints[CLUSTER] ?? [];
    assert.deepEqual(eds.map((e) => e.address).sort(), ['10.0.5.1', '10.0.5.2', '10.0.5.3']);

    const st = await meshbridge(mb.configFile, ['status']);
    assert.equal(st.code, 0, `a warning, not degraded\n${st.stdout}${st.stderr}`);
    assert.match(
      st.stdout,
      new RegExp(
        `^mesh hosts +WARN +1 host\\(s\\) served from several namespaces.*: ${HOST.replace(/\./g, '\\.')} \\(dubbo, legacy\\)`,
        'm',
      ),
      st.stdout,
    );
  });
});
