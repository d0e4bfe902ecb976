import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled, istioCrdFile } from '../../harness/install.ts';
import { startServers, pipeline, getJson, startAllOrNone, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startIstiod, type IstiodServer } from '../../harness/istiod.ts';
import { startKubeApiServer, applyIstioCrds, type KubeApiServer } from '../../harness/kube-apiserver.ts';
import { proxyView, tcpRoutes } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { spawnGateway, type GatewayProcess } from '../../harness/gateway-fleet.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { SnapshotWriter, serviceEntry } from '../../harness/snapshot-writer.ts';
import { freePort } from '../../harness/ports.ts';
import { serviceEntries, type IstiodConfig } from '../support/istiod-view.ts';

const IFACE = 'org.apache.dubbo.demo.DemoService';
const HOST = 'org.apache.dubbo.demo.demoservice';
const subset = (s: string) => `outbound|20880|${s}|${HOST}`;

const destinationRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: demoservice, namespace: dubbo }
spec:
  host: ${HOST}
  subsets:
  - { name: v1, labels: { version: 1.0.0 } }
  - { name: v2, labels: { version: 2.0.0 } }
`;
const virtualService = (v1: number, v2: number) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: demoservice, namespace: dubbo }
spec:
  hosts: [${HOST}]
  tcp:
  - route:
    - { destination: { host: ${HOST}, subset: v1, port: { number: 20880 } }, weight: ${v1} }
    - { destination: { host: ${HOST}, subset: v2, port: { number: 20880 } }, weight: ${v2} }
`;

const configsOf = async (istiod: IstiodServer, kind: string) =>
  (((await istiod.debug('/debug/configz')) as IstiodConfig[] | null) ?? []).filter((c) => c.kind === kind);

/**
 * istiod as production runs it (docs/kubernetes.md): the unpatched build, with a real Kubernetes API server
 * (`k8s://`) AND meshbridge's gateway (`xds://`) as config sources. The Dubbo provider's ServiceEntry comes from
 * meshbridge; the DestinationRule and VirtualService that route it come from the cluster; the sidecar view shows
 * both composed.
 */
describe('istiod with k8s:// and xds://: Kubernetes traffic rules act on meshbridge ServiceEntries', () => {
  let servers: Servers;
  let api: KubeApiServer;
  let mb: Pipeline;
  let istiod: IstiodServer | undefined;
  let dubbo: DubboRegistrar;
  let lateGateway: GatewayProcess | undefined;
  let lateRedis: RedisServer | undefined;
  let writer: SnapshotWriter | undefined;

  before(async () => {
    ensureInstalled(['redis', 'zookeeper', 'kafka', 'kubernetes', 'istiod-unpatched']);
    const runDir = makeRunDir('e2e-kubernetes-istiod');
    [servers, api] = await startAllOrNone([startServers(runDir), startKubeApiServer(runDir)] as const);
    await applyIstioCrds(api, istioCrdFile());
    await api.kubectl(['create', 'namespace', 'istio-system']);
    await api.kubectl(['create', 'namespace', 'dubbo']);
    mb = await pipeline(servers);
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
  });

  after(async () => {
    dubbo?.close();
    await istiod?.stop();
    await lateGateway?.proc.stop();
    writer?.close();
    await lateRedis?.stop();
    await mb?.stop();
    await Promise.all([servers?.stop(), api?.stop()]);
  });

  it('a DestinationRule and a weighted VirtualService from the API server route the meshbridge host by version', async () => {
    await dubbo.register(IFACE, '10.0.0.11', 20880, { version: '1.0.0' });
    await dubbo.register(IFACE, '10.0.0.12', 20880, { version: '2.0.0' });
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 60_000,
    });
    const t0 = performance.now();
    istiod = await startIstiod(
      servers.runDir,
      mb.ports.gatewayGrpcs.map((p) => `xds://127.0.0.1:${p}`),
      {
        kubeconfig: api.kubeconfig,
        readyTimeoutMs: 180_000,
      },
    );
    console.log(`# istiod (k8s:// + xds://) xDS port open ${Math.round(performance.now() - t0)} ms after spawn`);

    const se = await waitFor(
      async () => (await serviceEntries(istiod!.debug)).find((c) => c.spec.hosts?.includes(HOST)),
      { what: 'meshbridge ServiceEntry in istiod configz', timeoutMs: 60_000 },
    );
    assert.deepEqual(se.spec.endpoints.map((e: { labels: Record<string, string> }) => e.labels.version).sort(), [
      '1.0.0',
      '2.0.0',
    ]);

    const applied = await api.apply(destinationRule + '---' + virtualService(80, 20));
    assert.equal(applied.stderr, '', 'the API server admits both without warnings');
    await waitFor(
      async () =>
        (await configsOf(istiod!, 'VirtualService')).length === 1 &&
        (await configsOf(istiod!, 'DestinationRule')).length === 1,
      { what: 'VirtualService and DestinationRule from the API server in istiod configz', timeoutMs: 60_000 },
    );

    // CDS/EDS: one cluster per subset, each with only the endpoints whose `version` label the subset selects.
    const view = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod!.grpcPort}`, (c) => c.endsWith(`|${HOST}`));
        return v.endpoints[subset('v1')]?.length === 1 && v.endpoints[subset('v2')]?.length === 1 ? v : undefined;
      },
      { what: 'subset clusters with their endpoints from istiod', timeoutMs: 60_000 },
    );
    assert.deepEqual(
      view.clusters.filter((c) => c.endsWith(`|${HOST}`)).sort(),
      [`outbound|20880||${HOST}`, subset('v1'), subset('v2')].sort(),
    );
    assert.deepEqual(view.endpoints[subset('v1')], [{ address: '10.0.0.11', port: 20880 }]);
    assert.deepEqual(view.endpoints[subset('v2')], [{ address: '10.0.0.12', port: 20880 }]);

    // LDS: the TCP route of port 20880 splits 80/20 between the subsets (a TCP port has no RDS).
    const weightsOf = async () =>
      (await tcpRoutes(`127.0.0.1:${istiod!.grpcPort}`, (l) => l.endsWith('_20880'))).map(
        (r) => r.weighted ?? (r.cluster ? [{ name: r.cluster, weight: 100 }] : []),
      );
    const split = (v1: number, v2: number) => [
      { name: subset('v1'), weight: v1 },
      { name: subset('v2'), weight: v2 },
    ];
    await waitFor(
      async () => {
        const w = await weightsOf();
        return w.length > 0 && w.every((x) => JSON.stringify(x) === JSON.stringify(split(80, 20))) ? w : undefined;
      },
      { what: 'LDS tcp_proxy weighted 80/20 over subsets v1/v2', timeoutMs: 60_000 },
    );
    const routes = await tcpRoutes(`127.0.0.1:${istiod.grpcPort}`, (l) => l.endsWith('_20880'));
    console.log(
      `# LDS: ${routes.map((r) => `${r.listener} -> ${r.weighted?.map((c) => `${c.name} ${c.weight}`).join(', ')}`).join('; ')}`,
    );

    // Both sources stay live: a weight change in the cluster and a new v2 provider in ZooKeeper reach the sidecar.
    await api.apply(virtualService(50, 50));
    await dubbo.register(IFACE, '10.0.0.13', 20880, { version: '2.0.0' });
    await waitFor(
      async () => {
        const w = await weightsOf();
        return w.length > 0 && w.every((x) => JSON.stringify(x) === JSON.stringify(split(50, 50))) ? w : undefined;
      },
      { what: 'LDS tcp_proxy weighted 50/50 after the VirtualService changed', timeoutMs: 60_000 },
    );
    const view2 = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod!.grpcPort}`, (c) => c.endsWith(`|${HOST}`));
        return v.endpoints[subset('v2')]?.length === 2 ? v : undefined;
      },
      { what: 'the new v2 provider in subset v2', timeoutMs: 60_000 },
    );
    assert.deepEqual(view2.endpoints[subset('v1')], [{ address: '10.0.0.11', port: 20880 }]);
    assert.deepEqual(view2.endpoints[subset('v2')], [
      { address: '10.0.0.12', port: 20880 },
      { address: '10.0.0.13', port: 20880 },
    ]);
  });

  it("Dubbo's tag routing as an istio subset: dubbo.tag becomes a label a DestinationRule selects, and follows a re-registration", async () => {
    assert.ok(istiod, 'istiod from the first test');
    const iface = 'org.apache.dubbo.demo.GreetingService';
    const host = 'org.apache.dubbo.demo.greetingservice';
    const cluster = (s: string) => `outbound|20880|${s}|${host}`;
    const grayPath = await dubbo.register(iface, '10.0.1.11', 20880, { version: '1.0.0', 'dubbo.tag': 'gray' });
    const basePath = await dubbo.register(iface, '10.0.1.12', 20880, { version: '1.0.0' });
    const applied = await api.apply(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: greetingservice, namespace: dubbo }
spec:
  host: ${host}
  subsets:
  - { name: gray, labels: { dubbo.apache.org/tag: gray } }
`);
    assert.equal(applied.stderr, '');
    const viewOf = (grayEndpoints: number) =>
      waitFor(
        async () => {
          const v = await proxyView(`127.0.0.1:${istiod!.grpcPort}`, (c) => c.endsWith(`|${host}`));
          return v.endpoints[cluster('gray')]?.length === grayEndpoints && v.endpoints[cluster('')]?.length === 2
            ? v
            : undefined;
        },
        { what: `subset gray with ${grayEndpoints} endpoint(s) from istiod`, timeoutMs: 60_000 },
      );
    const view = await viewOf(1);
    assert.deepEqual(view.endpoints[cluster('gray')], [{ address: '10.0.1.11', port: 20880 }]);
    const se = (await serviceEntries(istiod!.debug)).find((c) => c.spec.hosts?.includes(host));
    assert.deepEqual(
      se?.spec.endpoints.map((e: { address: string; labels: Record<string, string> }) => [
        e.address,
        e.labels['dubbo.apache.org/tag'] ?? null,
      ]),
      [
        ['10.0.1.11', 'gray'],
        ['10.0.1.12', null],
      ],
    );

    // A gray release: the second provider restarts with the tag (Dubbo removes its node and writes a new URL).
    await dubbo.unregister(basePath);
    await dubbo.register(iface, '10.0.1.12', 20880, { version: '1.0.0', 'dubbo.tag': 'gray' });
    const moved = await viewOf(2);
    assert.deepEqual(moved.endpoints[cluster('gray')], [
      { address: '10.0.1.11', port: 20880 },
      { address: '10.0.1.12', port: 20880 },
    ]);
    await dubbo.unregister(grayPath);
    await api.kubectl(['delete', 'destinationrule', 'greetingservice', '-n', 'dubbo']);
  });

  it('gateways down when istiod starts: istiod exits at once, and a restart after a gateway is back has both sources', async () => {
    await istiod?.stop();
    istiod = undefined;
    await mb.procs.gateway!.stop();
    const started = performance.now();
    await assert.rejects(
      startIstiod(
        servers.runDir,
        mb.ports.gatewayGrpcs.map((p) => `xds://127.0.0.1:${p}`),
        {
          kubeconfig: api.kubeconfig,
          readyTimeoutMs: 180_000,
        },
      ),
      (e: Error) => {
        assert.match(e.message, /istiod exited/);
        assert.match(e.message, /connection refused/, 'istiod names its xds:// source refusing the connection');
        return true;
      },
    );
    const exitedAfterMs = Math.round(performance.now() - started);
    // Kubernetes config alone does not keep it up: one unreachable config source at start is fatal (docs/kubernetes.md).
    console.log(`# istiod with k8s:// + an unreachable xds:// exited after ${exitedAfterMs} ms`);

    // What kubelet does next (restart the container): with a gateway back, istiod starts with both sources.
    await mb.start('gateway');
    istiod = await startIstiod(
      servers.runDir,
      mb.ports.gatewayGrpcs.map((p) => `xds://127.0.0.1:${p}`),
      {
        kubeconfig: api.kubeconfig,
        readyTimeoutMs: 180_000,
      },
    );
    await waitFor(
      async () =>
        (await serviceEntries(istiod!.debug)).some((c) => c.spec.hosts?.includes(HOST)) &&
        (await configsOf(istiod!, 'VirtualService')).length === 1,
      { what: 'ServiceEntry (xds://) and VirtualService (k8s://) in the restarted istiod', timeoutMs: 60_000 },
    );
  });

  it('the mitigation: a gateway up without Redis is enough: istiod (k8s:// + xds://) connects and waits, then serves both', async () => {
    await istiod?.stop();
    istiod = undefined;
    // A gateway whose Redis is not there yet (the chart's Service publishes not-ready gateways to istiod).
    const redisPort = await freePort();
    const prefix = `k8s-late-${Date.now().toString(36)}`;
    lateGateway = await spawnGateway(servers.runDir, `redis://127.0.0.1:${redisPort}`, prefix, {
      name: 'gateway-without-redis',
    });
    const starting = startIstiod(servers.runDir, `xds://127.0.0.1:${lateGateway.grpcPort}`, {
      kubeconfig: api.kubeconfig,
      readyTimeoutMs: 180_000,
    });
    starting.catch(() => undefined); // awaited below
    type Stream = { streamId: string; nodeId: string; types: Record<string, unknown> };
    const streams = async () =>
      (await (await fetch(`http://127.0.0.1:${lateGateway!.httpPort}/debug/istiods`)).json()) as Stream[];
    const stream = await waitFor(
      async () => (await streams()).find((c) => /istiod/.test(c.nodeId) && Object.keys(c.types).length > 2),
      { what: 'istiod connected to the gateway without Redis', timeoutMs: 60_000 },
    );
    await waitFor(
      async () => {
        const r = (await (await fetch(`http://127.0.0.1:${lateGateway!.httpPort}/readyz`)).json()) as {
          detail: { missing: { attempts: number }[] };
        };
        return (r.detail.missing[0]?.attempts ?? 0) >= 5;
      },
      { what: 'the gateway retried Redis a few times', timeoutMs: 60_000 },
    );
    assert.ok(
      (await streams()).some((c) => c.streamId === stream.streamId),
      'istiod still connected on the same stream: it waits, it did not exit',
    );

    lateRedis = await startRedis(servers.runDir, { port: redisPort, name: 'redis-late' });
    writer = await SnapshotWriter.open(lateRedis.url, prefix);
    await writer.commit(new Map([serviceEntry({ namespace: 'dubbo', host: HOST, endpoints: 2, seed: 1 })]), [], {
      complete: true,
    });
    istiod = await starting; // its xDS port opens once the gateway answered with the complete snapshot
    await waitFor(
      async () =>
        (await serviceEntries(istiod!.debug)).some((c) => c.spec.hosts?.includes(HOST)) &&
        (await configsOf(istiod!, 'VirtualService')).length === 1,
      { what: 'ServiceEntry (late xds://) and VirtualService (k8s://) in istiod', timeoutMs: 60_000 },
    );
  });
});
