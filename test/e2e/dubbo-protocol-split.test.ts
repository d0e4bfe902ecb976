import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { Sidecar } from '../../harness/sidecar-watch.ts';
import { waitFor } from '../../harness/wait.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const IFACE = 'org.apache.dubbo.demo.GreeterService';
const HOST = 'org.apache.dubbo.demo.greeterservice';
const DUBBO = `outbound|20880||${HOST}`;
const TRI = `outbound|50051||${HOST}`;
const A = '10.0.8.1';
const B = '10.0.8.2';
const C = '10.0.8.3';
const SPLIT = [`${HOST}~*`, `${HOST}~tcp-dubbo`, `${HOST}~tcp-tri`];

// A Dubbo interface served over two protocols (dubbo on 20880, triple on 50051), as in a fleet moving to triple: a
// provider that serves only one of them must get only that protocol's traffic, and no provider may leave a sidecar's
// view of a protocol it still serves while another provider gains or loses one.
describe('a provider is listed under exactly the protocols it serves', () => {
  let servers: Servers;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let zk: DubboRegistrar;
  let sidecar: Sidecar | undefined;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-dubbo-protocol-split'), { istiod: true });
    const connect = servers.zookeeper.connectString;
    const root = `/dubbo-split-${Math.random().toString(36).slice(2, 8)}`;
    mb = await pipeline(servers, {
      sources: [{ id: 'zk', kind: 'zookeeper-dubbo', connect, root, sessionTimeoutMs: 4000 }],
    });
    zk = await DubboRegistrar.open(connect, root);
  });

  after(async () => {
    sidecar?.close();
    zk?.close();
    await istiod?.stop();
    await mb?.stop();
    await servers?.stop();
  });

  const entryNames = async () =>
    (await serviceEntries(istiod.debug))
      .filter((c) => c.spec.hosts?.includes(HOST))
      .map((c) => c.metadata.name)
      .sort();

  it('splits the host when a provider drops triple, and keeps every provider served through that and a restart', async () => {
    const aDubbo = await zk.register(IFACE, A, 20880);
    const aTri = await zk.register(IFACE, A, 50051, {}, 'tri');
    await zk.register(IFACE, B, 20880);
    await zk.register(IFACE, B, 50051, {}, 'tri');
    await zk.register(IFACE, C, 20880);
    const cTri = await zk.register(IFACE, C, 50051, {}, 'tri');
    // Started once every URL is written, so its first read sees each provider with both protocols: a provider seen
    // with one (its URLs are separate znodes) would split the host for good, and the test could not show the change.
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);

    // A sidecar holding its stream open sees every push: after each EDS response, every provider the test has
    // registered for a protocol (and seen there once) must be in that protocol's cluster.
    const mustServe = new Map<string, Set<string>>([
      [DUBBO, new Set()],
      [TRI, new Set()],
    ]);
    const gaps: string[] = [];
    const s = new Sidecar(`127.0.0.1:${istiod.grpcPort}`, 'delta', `outbound|`, (cluster, _added, removed) => {
      for (const a of removed)
        if (mustServe.get(cluster)?.has(a)) gaps.push(`${new Date().toISOString()} ${a} left ${cluster}`);
    });
    sidecar = s;
    s.start();
    const seen = (cluster: string) => [...(s.endpoints.get(cluster) ?? [])].sort().join();
    const settle = (what: string, dubbo: string[], tri: string[]) =>
      waitFor(() => seen(DUBBO) === dubbo.join() && seen(TRI) === tri.join(), { what, timeoutMs: 60_000 });

    // Every provider serves both protocols: one ServiceEntry, as ever.
    await settle('every provider under both protocols at the sidecar', [A, B, C], [A, B, C]);
    for (const c of [DUBBO, TRI]) for (const a of [A, B, C]) mustServe.get(c)!.add(a);
    assert.deepEqual(await entryNames(), [HOST]);

    // C stops serving triple (a rollback on one provider): C leaves the triple cluster, and only it.
    mustServe.get(TRI)!.delete(C);
    await zk.unregister(cTri);
    await settle('C out of the triple cluster', [A, B, C], [A, B]);
    const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === DUBBO || c === TRI);
    assert.deepEqual(
      v.endpoints[TRI],
      [
        { address: A, port: 50051 },
        { address: B, port: 50051 },
      ],
      'C does not listen on 50051: no triple traffic for it',
    );
    assert.deepEqual(v.endpoints[DUBBO], [
      { address: A, port: 20880 },
      { address: B, port: 20880 },
      { address: C, port: 20880 },
    ]);
    assert.deepEqual(await entryNames(), SPLIT);
    const every = (await serviceEntries(istiod.debug)).find((c) => c.metadata.name === `${HOST}~*`)!;
    assert.deepEqual(
      every.spec.ports.map((p: { number: number }) => p.number),
      [20880, 50051],
    );
    assert.equal(every.spec.endpoints, undefined, 'the every-port entry carries no endpoint');
    assert.equal(await metricSum(mb.ports.projectorHttp, 'meshbridge_projector_port_splits_total', { to: 'split' }), 1);

    // A restarts (both URLs go with its session, then come back one by one, dubbo first) while B and C keep serving;
    // then C gets triple back. The split stays: endpoints come and go in entries that exist, which istiod takes as
    // endpoint updates — the sidecar gets no cluster (CDS) push. (Were A the last triple provider, the triple port
    // itself would go and come back: a service change in any shape.)
    // The split itself is a full push (ServiceEntries created and deleted), debounced by istiod after the endpoint
    // update that settled the view: count from when the sidecar has had no CDS push for 2 s.
    let cdsBefore = s.cdsResponses;
    let quietSince = performance.now();
    await waitFor(
      () => {
        if (s.cdsResponses !== cdsBefore) [cdsBefore, quietSince] = [s.cdsResponses, performance.now()];
        return performance.now() - quietSince >= 2000;
      },
      { what: 'no CDS push at the sidecar for 2 s', timeoutMs: 30_000 },
    );
    for (const c of [DUBBO, TRI]) mustServe.get(c)!.delete(A);
    await zk.unregister(aDubbo);
    await zk.unregister(aTri);
    await settle('A gone from both clusters', [B, C], [B]);
    await zk.register(IFACE, A, 20880);
    await settle('A back under dubbo', [A, B, C], [B]);
    mustServe.get(DUBBO)!.add(A);
    await zk.register(IFACE, A, 50051, {}, 'tri');
    await zk.register(IFACE, C, 50051, {}, 'tri');
    await settle('A and C under triple again', [A, B, C], [A, B, C]);
    assert.deepEqual(await entryNames(), SPLIT, 'once split, the host stays split (no entry created or deleted)');
    assert.equal(s.cdsResponses, cdsBefore, 'endpoint changes only: no full push reached the sidecar');
    assert.deepEqual(gaps, [], 'a provider left the cluster of a protocol it kept serving');
    assert.equal(await metricSum(mb.ports.projectorHttp, 'meshbridge_projector_port_splits_total'), 1);
  });
});
