import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { CLA_TYPE, CLUSTER_TYPE, proxyView } from '../../harness/xds-probe.ts';
import { DeltaXdsClient } from '../../harness/xds-delta-client.ts';
import { EnvoyClusterLoadAssignment } from '../../schemas/proto.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const IFACE = 'org.apache.dubbo.demo.DemoService';
const HOST = 'org.apache.dubbo.demo.demoservice';
const CLUSTER = `outbound|20880||${HOST}`;

describe('a Dubbo provider in ZooKeeper reaches a real istiod through Kafka, Redis and the gateway', () => {
  let servers: Servers;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let dubbo: DubboRegistrar;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-dubbo'), { istiod: true });
    mb = await pipeline(servers);
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
  });

  after(async () => {
    dubbo?.close();
    await istiod?.stop();
    await mb?.stop();
    await servers?.stop();
  });

  it('serves the provider as a ServiceEntry that istiod holds and hands to sidecars', async () => {
    const provider1 = await dubbo.register(IFACE, '10.0.0.11', 20880, { version: '1.0.0', weight: '100' });
    // The gateway becomes ready only once the collector's first full resync has been folded (complete snapshot).
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);

    const se = await waitFor(
      async () => (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST)),
      { what: 'ServiceEntry in istiod configz', timeoutMs: 30_000 },
    );
    assert.equal(se.metadata.namespace, 'dubbo');
    assert.equal(se.metadata.name, HOST);
    assert.deepEqual(se.spec.ports, [{ number: 20880, protocol: 'TCP', name: 'tcp-dubbo' }]);
    assert.equal(se.spec.resolution, 'STATIC');
    assert.equal(se.spec.location, 'MESH_INTERNAL');
    assert.equal(se.spec.endpoints.length, 1);
    assert.equal(se.spec.endpoints[0].address, '10.0.0.11');
    // On the service port's own number: istiod infers it (schemas/service-entry/endpoint-ports.ts); EDS below.
    assert.equal(se.spec.endpoints[0].ports, undefined);
    assert.equal(se.spec.endpoints[0].labels.version, '1.0.0');
    assert.equal(se.spec.endpoints[0].labels['meshbridge.io/source'], 'zk1');

    const view = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return v.endpoints[CLUSTER]?.length === 1 ? v : undefined;
      },
      { what: `EDS for ${CLUSTER} from istiod`, timeoutMs: 30_000 },
    );
    assert.ok(view.clusters.includes(CLUSTER), `CDS has ${CLUSTER}`);
    assert.deepEqual(view.endpoints[CLUSTER], [{ address: '10.0.0.11', port: 20880 }]);

    // A second provider: time from the ZooKeeper write to istiod holding the change.
    const t0 = performance.now();
    const provider2 = await dubbo.register(IFACE, '10.0.0.12', 20881);
    await waitFor(
      async () => {
        const s = (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST));
        return s?.spec.endpoints?.length === 2;
      },
      { what: 'second endpoint in istiod', timeoutMs: 30_000, intervalMs: 10 },
    );
    const addMs = performance.now() - t0;
    const view2 = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return v.endpoints[CLUSTER]?.length === 2 ? v : undefined;
      },
      { what: 'two endpoints in EDS', timeoutMs: 30_000 },
    );
    assert.deepEqual(view2.endpoints[CLUSTER], [
      { address: '10.0.0.11', port: 20880 },
      { address: '10.0.0.12', port: 20881 },
    ]);
    // provider1 registered weight=100, provider2 none: Dubbo gives both the same share, and so must the sidecar.
    const w = view2.weights[CLUSTER]!;
    assert.equal(w['10.0.0.11:20880'], w['10.0.0.12:20881'], `equal shares, got ${JSON.stringify(w)}`);
    // A heavier provider: three times Dubbo's default share, against both others (the one without a weight included).
    const provider3 = await dubbo.register(IFACE, '10.0.0.13', 20880, { weight: '300' });
    const weighted = await waitFor(
      async () => {
        const ws = (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER)).weights[CLUSTER];
        return Object.keys(ws ?? {}).length === 3 ? ws : undefined;
      },
      { what: 'three weighted endpoints in EDS', timeoutMs: 30_000 },
    );
    assert.deepEqual(weighted, { '10.0.0.11:20880': 100, '10.0.0.12:20881': 100, '10.0.0.13:20880': 300 });
    await dubbo.unregister(provider3);

    // Deregistration: the endpoint disappears from istiod's config and from what it hands sidecars.
    const t1 = performance.now();
    await dubbo.unregister(provider1);
    await waitFor(
      async () => {
        const s = (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST));
        return s?.spec.endpoints?.length === 1 && s.spec.endpoints[0].address === '10.0.0.12';
      },
      { what: 'first endpoint removed from istiod', timeoutMs: 30_000, intervalMs: 10 },
    );
    const removeMs = performance.now() - t1;
    const view3 = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return v.endpoints[CLUSTER]?.length === 1 ? v : undefined;
      },
      { what: 'one endpoint left in EDS', timeoutMs: 30_000 },
    );
    assert.deepEqual(view3.endpoints[CLUSTER], [{ address: '10.0.0.12', port: 20881 }]);

    await dubbo.unregister(provider2);
    await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return (v.endpoints[CLUSTER]?.length ?? 0) === 0 ? v : undefined;
      },
      { what: 'no endpoints left in EDS', timeoutMs: 30_000 },
    );
    console.log(`# zookeeper write -> istiod configz: add ${addMs.toFixed(0)} ms, remove ${removeMs.toFixed(0)} ms`);
  });

  it('a delta-xDS sidecar (what istio 1.30 sidecars speak by default) gets each change incrementally', async () => {
    // Runs after the first test, on the same istiod; it registers its own providers.
    const endpoints = new Map<string, string[]>();
    const clusterNames = new Set<string>();
    const sidecar = new DeltaXdsClient(`127.0.0.1:${istiod.grpcPort}`, {
      id: 'sidecar~10.0.0.2~delta.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default' },
    });
    sidecar.onResponse = (r) => {
      sidecar.ack(r);
      if (r.typeUrl === CLUSTER_TYPE) {
        for (const n of r.removed) clusterNames.delete(n);
        const added = r.resources.map((x) => x.name).filter((n) => !clusterNames.has(n));
        for (const n of added) clusterNames.add(n);
        // A cluster (re)appearing is subscribed for its endpoints, as Envoy does.
        if (added.includes(CLUSTER)) sidecar.subscribe(CLA_TYPE, [CLUSTER]);
        return;
      }
      for (const n of r.removed) endpoints.delete(n);
      for (const x of r.resources) {
        const cla = EnvoyClusterLoadAssignment.decode(x.value) as unknown as {
          cluster_name: string;
          endpoints: { lb_endpoints: { endpoint?: { address?: { socket_address?: { address: string } } } }[] }[];
        };
        endpoints.set(
          cla.cluster_name,
          cla.endpoints
            .flatMap((l) => l.lb_endpoints.map((e) => e.endpoint?.address?.socket_address?.address ?? ''))
            .sort(),
        );
      }
    };
    sidecar.open().subscribe(CLUSTER_TYPE);
    const expect = (addresses: string[], what: string) =>
      waitFor(() => endpoints.get(CLUSTER)?.join() === addresses.join() || undefined, {
        what: `${what} (delta EDS has ${endpoints.get(CLUSTER)?.join() ?? 'no assignment'})`,
        timeoutMs: 30_000,
        intervalMs: 10,
      });
    try {
      const p1 = await dubbo.register(IFACE, '10.0.0.21', 20880);
      await expect(['10.0.0.21'], 'the first provider pushed to the delta sidecar');
      const p2 = await dubbo.register(IFACE, '10.0.0.22', 20880);
      await expect(['10.0.0.21', '10.0.0.22'], 'a second provider added incrementally');
      await dubbo.unregister(p1);
      await expect(['10.0.0.22'], 'the removed provider withdrawn');
      await dubbo.unregister(p2);
      assert.equal(sidecar.closedWith, undefined);
    } finally {
      sidecar.close();
    }
  });
});
