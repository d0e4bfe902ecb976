import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const IFACE = 'org.apache.dubbo.demo.LedgerService';
const HOST = 'org.apache.dubbo.demo.ledgerservice';
const CLUSTER = `outbound|20880||${HOST}`;

// The classic Dubbo misconfiguration: a provider whose host name resolves to 127.0.0.1 registers that, or one that
// registers the address it binds to (0.0.0.0). In a mesh the sidecar of every caller would dial its own host for
// that provider's share of the requests. With the production default (allowLoopback off) neither reaches istiod,
// each is reported, and the rest of the service is served as usual.
describe('providers registered at loopback or unspecified addresses never reach istiod', () => {
  let servers: Servers;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let zk: DubboRegistrar;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-loopback-providers'), { istiod: true });
    const connect = servers.zookeeper.connectString;
    const root = `/dubbo-prod-${Math.random().toString(36).slice(2, 8)}`;
    mb = await pipeline(servers, {
      sources: [
        { id: 'zk-prod', kind: 'zookeeper-dubbo', connect, root, sessionTimeoutMs: 4000, allowLoopback: false },
      ],
    });
    zk = await DubboRegistrar.open(connect, root);
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
  });

  after(async () => {
    zk?.close();
    await istiod?.stop();
    await mb?.stop();
    await servers?.stop();
  });

  const edsOf = async () => (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER)).endpoints[CLUSTER];
  const addressesInIstiod = async () =>
    (await serviceEntries(istiod.debug))
      .find((c) => c.spec.hosts?.includes(HOST))
      ?.spec.endpoints?.map((e: { address: string }) => e.address);
  const problems = (reason: string) =>
    metricSum(mb.ports.collectorHttp, 'meshbridge_collector_data_problems', { source: 'zk-prod', reason });

  it('serves only the routable provider, reports the others, and serves a fixed one', async () => {
    await zk.register(IFACE, '10.0.7.1', 20880);
    const loopback = await zk.register(IFACE, '127.0.0.1', 20880);
    await zk.register(IFACE, '0.0.0.0', 20880);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
    await waitFor(async () => (await addressesInIstiod())?.length === 1 || undefined, {
      what: `${HOST} in istiod configz`,
      timeoutMs: 30_000,
    });
    assert.deepEqual(await addressesInIstiod(), ['10.0.7.1']);
    const eds = await waitFor(async () => ((await edsOf())?.length ? edsOf() : undefined), {
      what: `EDS for ${CLUSTER}`,
      timeoutMs: 30_000,
    });
    assert.deepEqual(eds, [{ address: '10.0.7.1', port: 20880 }]);

    // Reported as what it is: a metric per reason (no address in its labels) and the provider URL on /debug/problems.
    assert.equal(await problems('loopback'), 1);
    assert.equal(await problems('unspecified'), 1);
    const debug = (await (await fetch(`http://127.0.0.1:${mb.ports.collectorHttp}/debug/problems`)).json()) as {
      'zk-prod': { problems: { field: string; value: string; reason: string; action: string }[] };
    };
    const listed = debug['zk-prod'].problems.map((p) => [p.field, decodeURIComponent(p.value).split('/')[2], p.action]);
    assert.deepEqual(listed.sort(), [
      ['providers.host', '0.0.0.0:20880', 'provider skipped'],
      ['providers.host', '127.0.0.1:20880', 'provider skipped'],
    ]);
    assert.ok(
      debug['zk-prod'].problems.some((p) => /^loopback address: .*register its host IP/.test(p.reason)),
      JSON.stringify(debug),
    );

    // The operator fixes the provider (it now registers its host IP): it is served, the problem is reported gone.
    await zk.unregister(loopback);
    await zk.register(IFACE, '10.0.7.2', 20880);
    await waitFor(async () => (await addressesInIstiod())?.length === 2 || undefined, {
      what: 'the fixed provider in istiod',
      timeoutMs: 30_000,
    });
    assert.deepEqual(await addressesInIstiod(), ['10.0.7.1', '10.0.7.2']);
    await waitFor(async () => (await problems('loopback')) === 0 || undefined, {
      what: 'the loopback problem gone',
      timeoutMs: 15_000,
    });
    assert.equal(await problems('unspecified'), 1, 'the provider still registered at 0.0.0.0 is still reported');
  });
});
