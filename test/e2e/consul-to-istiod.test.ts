import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar, type ConsulInstance } from '../../harness/consul-registrar.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const HOST = 'checkout';
const CLUSTER = `outbound|8080||${HOST}`;

describe("services registered through Consul's HTTP API reach a real istiod through Kafka, Redis and the gateway", () => {
  let servers: Servers;
  let consul: ConsulServer;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let reg: ConsulRegistrar;
  const i1: ConsulInstance = {
    service: 'checkout',
    id: 'checkout-1',
    address: '10.5.0.11',
    port: 8080,
    meta: { protocol: 'http', version: 'v1' },
    tags: ['team=payments'],
  };
  const i2: ConsulInstance = {
    service: 'checkout',
    id: 'checkout-2',
    address: '10.5.0.12',
    port: 8080,
    meta: { protocol: 'http', version: 'v2' },
  };

  before(async () => {
    const runDir = makeRunDir('e2e-consul-istiod');
    [servers, consul] = await Promise.all([startServers(runDir, { istiod: true }), startConsul(runDir)]);
    reg = new ConsulRegistrar(consul.address);
    mb = await pipeline(servers, {
      sources: [{ id: 'consul-dc1', kind: 'consul', address: consul.address, blockWaitSeconds: 5 }],
    });
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
  });

  after(async () => {
    await istiod?.stop();
    await mb?.stop();
    await consul?.stop();
    await servers?.stop();
  });

  it('serves the Consul service as a ServiceEntry istiod holds and hands to sidecars, and removes it on deregistration', async () => {
    await reg.register(i1);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);

    const se = await waitFor(
      async () => (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST)),
      { what: 'ServiceEntry in istiod configz', timeoutMs: 30_000 },
    );
    assert.equal(se.metadata.namespace, 'consul');
    assert.deepEqual(se.spec.ports, [{ number: 8080, protocol: 'HTTP', name: 'http' }]);
    assert.equal(se.spec.resolution, 'STATIC');
    assert.equal(se.spec.endpoints.length, 1);
    assert.equal(se.spec.endpoints[0].address, '10.5.0.11');
    assert.equal(se.spec.endpoints[0].locality, 'dc1');
    assert.deepEqual(se.spec.endpoints[0].labels, {
      version: 'v1',
      team: 'payments',
      'meshbridge.io/source': 'consul-dc1',
    });

    const view = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return v.endpoints[CLUSTER]?.length === 1 ? v : undefined;
      },
      { what: `EDS for ${CLUSTER}`, timeoutMs: 30_000 },
    );
    assert.ok(view.clusters.includes(CLUSTER));
    assert.deepEqual(view.endpoints[CLUSTER], [{ address: '10.5.0.11', port: 8080 }]);

    const t0 = performance.now();
    await reg.register(i2);
    await waitFor(
      async () =>
        (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST))?.spec.endpoints?.length === 2,
      { what: 'second instance in istiod', timeoutMs: 30_000, intervalMs: 10 },
    );
    const addMs = performance.now() - t0;

    // Failing health takes the instance out of the mesh.
    await reg.setStatus(i1, 'critical');
    await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return v.endpoints[CLUSTER]?.length === 1 && v.endpoints[CLUSTER]![0]!.address === '10.5.0.12' ? v : undefined;
      },
      { what: 'critical instance out of EDS', timeoutMs: 30_000 },
    );

    // Deregistering the service removes it from istiod altogether.
    const t1 = performance.now();
    await reg.deregister(i1);
    await reg.deregister(i2);
    await waitFor(async () => !(await serviceEntries(istiod.debug)).some((c) => c.spec.hosts?.includes(HOST)), {
      what: 'ServiceEntry removed from istiod',
      timeoutMs: 30_000,
      intervalMs: 10,
    });
    const removeMs = performance.now() - t1;
    await waitFor(
      async () => !(await proxyView(`127.0.0.1:${istiod.grpcPort}`, () => true)).clusters.includes(CLUSTER),
      { what: 'cluster gone from CDS', timeoutMs: 30_000 },
    );
    console.log(
      `# consul registration -> istiod configz: add ${addMs.toFixed(0)} ms, deregistration -> removal ${removeMs.toFixed(0)} ms`,
    );
  });
});
