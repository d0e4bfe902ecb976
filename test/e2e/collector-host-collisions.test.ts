import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar, type ConsulInstance } from '../../harness/consul-registrar.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { connect, type ZkClient } from '../../services/collector/zk-client.ts';
import { remove } from '../../harness/zk-write.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { serviceEntries } from '../support/istiod-view.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';

// Two registry keys of one source that normalise to one mesh host (issue 10, case 1).
const OUTER = 'com.example.Outer$InnerAPI';
const outer = 'com.example.outer$innerapi';
const ZK_HOST = 'com.example.outer-innerapi';
const CONSUL_HOST = 'billing-api';

/**
 * Two registry keys of one source that map to one mesh host are merged — both keys' endpoints in istiod — and
 * removing one removes only its endpoints. Before, the later key hid the first (its events were ignored as older),
 * and removing it deleted the ServiceEntry although the first key's provider was still registered.
 */
describe('registry keys that collide on one mesh host are merged, never hidden (ZooKeeper and Consul, istiod)', () => {
  let servers: Servers;
  let consul: ConsulServer;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let dubbo: DubboRegistrar;
  let admin: ZkClient;
  let reg: ConsulRegistrar;
  let tail: EventTail;
  let root: string;
  const dash: ConsulInstance = { service: 'billing-api', id: 'billing-api-1', address: '10.51.0.1', port: 8080 };
  const underscore: ConsulInstance = { service: 'billing_api', id: 'billing_api-1', address: '10.51.0.2', port: 8080 };

  const endpointsOf = async (host: string) =>
    (await serviceEntries(istiod.debug))
      .find((c) => c.spec.hosts?.includes(host))
      ?.spec.endpoints?.map((e: { address: string }) => e.address)
      .sort() as string[] | undefined;

  before(async () => {
    const runDir = makeRunDir('e2e-host-collisions');
    [servers, consul] = await Promise.all([startServers(runDir, { istiod: true }), startConsul(runDir)]);
    reg = new ConsulRegistrar(consul.address);
    root = `/dubbo-collide-${process.pid}`;
    mb = await pipeline(servers, {
      sources: [
        { id: 'zk1', kind: 'zookeeper-dubbo', connect: servers.zookeeper.connectString, root, sessionTimeoutMs: 4000 },
        { id: 'c1', kind: 'consul', address: consul.address, blockWaitSeconds: 5 },
      ],
    });
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, root);
    admin = await connect(servers.zookeeper.connectString, 30_000);
    await dubbo.register(OUTER, '10.50.0.1', 20880);
    await reg.register(dash);
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
  });

  after(async () => {
    await tail?.close();
    dubbo?.close();
    admin?.close();
    await istiod?.stop();
    await mb?.stop();
    await consul?.stop();
    await servers?.stop();
  });

  it("ZooKeeper: both interfaces' providers are in istiod; removing one interface keeps the other's provider", async () => {
    await waitFor(async () => (await endpointsOf(ZK_HOST))?.length === 1, {
      what: 'the first interface in istiod',
      timeoutMs: 30_000,
    });
    const second = await dubbo.register(outer, '10.50.0.2', 20880);
    const both = await waitFor(
      async () => {
        const e = await endpointsOf(ZK_HOST);
        return e?.length === 2 ? e : undefined;
      },
      { what: "both interfaces' providers in istiod", timeoutMs: 30_000 },
    );
    assert.deepEqual(both, ['10.50.0.1', '10.50.0.2']);
    // Reported once, as a metric and in the event (so `meshbridge history` explains it).
    assert.equal(await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_host_collisions', { source: 'zk1' }), 1);
    const merged = await waitFor(
      () =>
        [...tail.events]
          .reverse()
          .find((e) => e.event.host === ZK_HOST && e.event.kind === 'SERVICE_STATE' && e.event.instances.length === 2)
          ?.event,
      { what: 'the merged event in Kafka', timeoutMs: 10_000 },
    );
    assert.equal(merged.registryService, `${OUTER},${outer}`);
    assert.ok(
      merged.issues.some((i) => i.field === 'registryService' && /2 registry services map to mesh host/.test(i.reason)),
    );
    const history = await meshbridge(mb.configFile, ['history', ZK_HOST]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /2 registry services map to mesh host/);

    // The later interface goes away entirely (provider, then its nodes): the first one's provider stays.
    await dubbo.unregister(second);
    await remove(admin, `${root}/${outer}/providers`);
    await remove(admin, `${root}/${outer}`);
    await waitFor(async () => (await endpointsOf(ZK_HOST))?.join() === '10.50.0.1', {
      what: "only the first interface's provider",
      timeoutMs: 30_000,
    });
    await waitFor(
      async () =>
        (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_host_collisions', { source: 'zk1' })) === 0,
      { what: 'the collision reported gone', timeoutMs: 10_000 },
    );
    // And it stays (nothing deletes the ServiceEntry later).
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await endpointsOf(ZK_HOST), ['10.50.0.1']);
  });

  it('Consul: billing-api and billing_api are one host with both instances; deregistering one keeps the other', async () => {
    await waitFor(async () => (await endpointsOf(CONSUL_HOST))?.length === 1, {
      what: 'billing-api in istiod',
      timeoutMs: 30_000,
    });
    await reg.register(underscore);
    const both = await waitFor(
      async () => {
        const e = await endpointsOf(CONSUL_HOST);
        return e?.length === 2 ? e : undefined;
      },
      { what: "both Consul services' instances in istiod", timeoutMs: 30_000 },
    );
    assert.deepEqual(both, ['10.51.0.1', '10.51.0.2']);
    assert.equal(await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_host_collisions', { source: 'c1' }), 1);
    await reg.deregister(underscore);
    await waitFor(async () => (await endpointsOf(CONSUL_HOST))?.join() === '10.51.0.1', {
      what: "only billing-api's instance",
      timeoutMs: 30_000,
    });
    await reg.deregister(dash);
    await waitFor(async () => (await endpointsOf(CONSUL_HOST)) === undefined, {
      what: 'the host gone once both services are',
      timeoutMs: 30_000,
    });
  });
});
