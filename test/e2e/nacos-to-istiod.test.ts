import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startNacos, type NacosServer } from '../../harness/nacos.ts';
import { NacosRegistrar, type NacosInstance } from '../../harness/nacos-registrar.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { CollectorReplicas } from '../support/collector-replicas.ts';
import { serviceEntries, type IstiodConfig } from '../support/istiod-view.ts';

const SOURCE = 'nacos1';
const cluster = (host: string, port: number) => `outbound|${port}||${host}`;

/**
 * A real Nacos server (standalone, auth on) → collector (kind nacos, gRPC subscriptions) → Kafka → projector →
 * gateway → a real istiod, which holds the ServiceEntry (configz) and hands a sidecar its endpoints (CDS/EDS).
 */
describe('services registered in Nacos reach a real istiod through Kafka, Redis and the gateway', () => {
  let servers: Servers;
  let nacos: NacosServer;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let reg: NacosRegistrar;
  const orders1: NacosInstance = {
    ip: '10.6.0.11',
    port: 8080,
    clusterName: 'hz-a',
    metadata: { protocol: 'http', version: 'v1' },
  };
  const orders2: NacosInstance = { ip: '10.6.0.12', port: 8080, metadata: { protocol: 'http', version: 'v2' } };

  const se = async (host: string): Promise<IstiodConfig | undefined> =>
    (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(host));
  const eds = async (host: string, port: number) =>
    (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === cluster(host, port))).endpoints[
      cluster(host, port)
    ] ?? [];
  const addresses = async (host: string) =>
    ((await se(host))?.spec.endpoints ?? []).map((e: { address: string }) => e.address).sort();

  before(async () => {
    const runDir = makeRunDir('e2e-nacos-istiod');
    [servers, nacos] = await Promise.all([
      startServers(runDir, { istiod: true }),
      startNacos(runDir, { adminPassword: 'Mesh-bridge-1' }),
    ]);
    reg = new NacosRegistrar(nacos);
    mb = await pipeline(servers, {
      sources: [
        {
          id: SOURCE,
          kind: 'nacos',
          address: nacos.address,
          username: 'nacos',
          password: 'Mesh-bridge-1',
          listIntervalMs: 30_000,
        },
      ],
    });
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 60_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
  });

  after(async () => {
    reg?.close();
    await istiod?.stop();
    await mb?.stop();
    await nacos?.stop();
    await servers?.stop();
  });

  it('an ephemeral instance becomes a ServiceEntry istiod holds and hands to a sidecar; changes follow pushes', async () => {
    const t0 = performance.now();
    await reg.register({ service: 'orders' }, orders1);
    const entry = await waitFor(() => se('orders'), {
      what: 'ServiceEntry orders in istiod configz',
      timeoutMs: 60_000,
    });
    console.log(
      `# nacos new service -> istiod configz: ${(performance.now() - t0).toFixed(0)} ms (fuzzy watch; listIntervalMs 30 s)`,
    );
    assert.equal(entry.metadata.namespace, 'nacos');
    assert.deepEqual(entry.spec.ports, [{ number: 8080, protocol: 'HTTP', name: 'http' }]);
    assert.equal(entry.spec.resolution, 'STATIC');
    assert.deepEqual(
      entry.spec.endpoints.map((e: { address: string }) => e.address),
      ['10.6.0.11'],
    );
    assert.deepEqual(entry.spec.endpoints[0].labels, {
      version: 'v1',
      'nacos.io/cluster': 'hz-a',
      'meshbridge.io/source': SOURCE,
    });
    await waitFor(async () => ((await eds('orders', 8080)).length === 1 ? true : undefined), {
      what: 'EDS for orders',
      timeoutMs: 30_000,
    });
    assert.deepEqual(await eds('orders', 8080), [{ address: '10.6.0.11', port: 8080 }]);

    const t1 = performance.now();
    await reg.register({ service: 'orders' }, orders2);
    await waitFor(async () => (await addresses('orders')).length === 2, {
      what: 'second instance in istiod',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    console.log(`# nacos instance registered -> istiod configz: ${(performance.now() - t1).toFixed(0)} ms`);

    // Disabled and zero-weight instances leave the mesh; re-enabled ones come back.
    await reg.register({ service: 'orders' }, { ...orders1, enabled: false });
    await waitFor(async () => (await addresses('orders')).join() === '10.6.0.12', {
      what: 'disabled instance out of istiod',
      timeoutMs: 30_000,
    });
    await reg.register({ service: 'orders' }, { ...orders2, weight: 0 });
    await reg.register({ service: 'orders' }, orders1);
    await waitFor(async () => (await addresses('orders')).join() === '10.6.0.11', {
      what: 'zero-weight instance out, re-enabled one back',
      timeoutMs: 30_000,
    });
    await waitFor(
      async () => {
        const e = await eds('orders', 8080);
        return e.length === 1 && e[0]!.address === '10.6.0.11' ? true : undefined;
      },
      { what: 'EDS follows', timeoutMs: 30_000 },
    );

    // Deregistration and a crashed application (its connection gone) remove endpoints; an empty service that Nacos
    // deletes leaves istiod altogether.
    await reg.deregister({ service: 'orders' }, orders2);
    reg.crash(orders1);
    const t2 = performance.now();
    await waitFor(async () => (await se('orders')) === undefined, {
      what: 'ServiceEntry orders removed from istiod',
      timeoutMs: 60_000,
    });
    console.log(
      `# nacos last instance gone -> ServiceEntry removed: ${(performance.now() - t2).toFixed(0)} ms (Nacos deletes a service empty for 2 s, checking every 2 s from 30 s after it started)`,
    );
    await waitFor(
      async () =>
        !(await proxyView(`127.0.0.1:${istiod.grpcPort}`, () => true)).clusters.includes(cluster('orders', 8080)),
      { what: 'orders gone from CDS', timeoutMs: 30_000 },
    );
    // New and removed services were found by Nacos 3's fuzzy watch, not by the 30 s look at the lists.
    assert.ok(
      (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_watch_events_total', {
        source: SOURCE,
        kind: 'fuzzy-watch',
      })) >= 2,
    );
  });

  it('a persistent instance that Nacos health-checks as down leaves the mesh', async () => {
    const listener = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    const port = (listener.address() as net.AddressInfo).port;
    const inst: NacosInstance = { ip: '127.0.0.1', port, metadata: { protocol: 'tcp' } };
    await reg.registerPersistent({ service: 'ledger', group: 'DEFAULT_GROUP' }, inst);
    await waitFor(async () => (await addresses('ledger')).join() === '127.0.0.1', {
      what: 'persistent instance in istiod',
      timeoutMs: 60_000,
    });
    // Nacos's own TCP health check (every few seconds) marks it unhealthy once nothing listens.
    await new Promise<void>((r) => listener.close(() => r()));
    await waitFor(
      async () => {
        const e = await se('ledger');
        return e !== undefined && (e.spec.endpoints ?? []).length === 0 ? true : undefined;
      },
      { what: 'unhealthy persistent instance out of istiod', timeoutMs: 90_000, intervalMs: 250 },
    );
    await reg.deregisterPersistent({ service: 'ledger' }, inst);
  });

  it('services survive a collector restart (kill -9) and changes made while it was down arrive after it', async () => {
    const a: NacosInstance = { ip: '10.6.1.1', port: 9090, metadata: { protocol: 'grpc' } };
    await reg.register({ service: 'payments' }, a);
    await waitFor(async () => (await addresses('payments')).join() === '10.6.1.1', {
      what: 'payments in istiod',
      timeoutMs: 60_000,
    });
    await mb.procs.collector!.kill();
    const b: NacosInstance = { ip: '10.6.1.2', port: 9090, metadata: { protocol: 'grpc' } };
    await reg.register({ service: 'payments' }, b);
    await reg.register({ service: 'inventory' }, { ip: '10.6.2.1', port: 7070 });
    // Nothing is lost while no collector runs: istiod keeps what it had.
    assert.deepEqual(await addresses('payments'), ['10.6.1.1']);
    await mb.start('collector');
    await waitFor(async () => (await addresses('payments')).join() === '10.6.1.1,10.6.1.2', {
      what: 'change made while down arrives',
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await addresses('inventory')).join() === '10.6.2.1', {
      what: 'service added while down arrives',
      timeoutMs: 60_000,
    });
    const entry = await se('payments');
    assert.deepEqual(entry!.spec.ports, [{ number: 9090, protocol: 'GRPC', name: 'grpc' }]);
  });
  it('a standby collector takes over when the leader is killed, and keeps following Nacos', async () => {
    // The pipeline's own collector leads now; stop it first, so the two replicas compete for the lease.
    await mb.procs.collector!.stop();
    const replicas = new CollectorReplicas(mb, SOURCE);
    try {
      const a = await replicas.start('nacos-a');
      const b = await replicas.start('nacos-b');
      const first = await replicas.leader({ timeoutMs: 30_000 });
      await first.proc.kill();
      const second = await replicas.leader({ except: first, timeoutMs: 30_000 });
      assert.ok(second === a || second === b);
      await reg.register({ service: 'payments' }, { ip: '10.6.1.3', port: 9090, metadata: { protocol: 'grpc' } });
      await waitFor(async () => (await addresses('payments')).join() === '10.6.1.1,10.6.1.2,10.6.1.3', {
        what: 'change after failover in istiod',
        timeoutMs: 60_000,
      });
      assert.deepEqual(await addresses('inventory'), ['10.6.2.1']);
    } finally {
      await replicas.stopAll();
    }
    await mb.start('collector');
  });
});
