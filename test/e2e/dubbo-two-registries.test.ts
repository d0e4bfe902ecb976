import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { serviceEntries } from '../support/istiod-view.ts';
import { SOURCE_LABEL, SOURCES_ANNOTATION } from '../../schemas/mesh-labels.ts';

const IFACE = 'org.apache.dubbo.demo.BillingService';
const HOST = 'org.apache.dubbo.demo.billingservice';
const CLUSTER = `outbound|20880||${HOST}`;

// Dubbo's "multiple registries": a provider registers in every registry it is configured with, and a fleet moving
// from one registry to another is registered in both for a while. Two sources feed one mesh host; a provider both
// report is one instance, and must get one instance's share of the traffic.
describe('a provider registered in two registries is one endpoint of its mesh host', () => {
  let servers: Servers;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let zkA: DubboRegistrar;
  let zkB: DubboRegistrar;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-dubbo-two-registries'), { istiod: true });
    const connect = servers.zookeeper.connectString;
    const suffix = Math.random().toString(36).slice(2, 8);
    mb = await pipeline(servers, {
      sources: [
        { id: 'zk-a', kind: 'zookeeper-dubbo', connect, root: `/dubbo-a-${suffix}`, sessionTimeoutMs: 4000 },
        { id: 'zk-b', kind: 'zookeeper-dubbo', connect, root: `/dubbo-b-${suffix}`, sessionTimeoutMs: 4000 },
      ],
    });
    zkA = await DubboRegistrar.open(connect, `/dubbo-a-${suffix}`);
    zkB = await DubboRegistrar.open(connect, `/dubbo-b-${suffix}`);
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
  });

  after(async () => {
    zkA?.close();
    zkB?.close();
    await istiod?.stop();
    await mb?.stop();
    await servers?.stop();
  });

  const edsOf = async () => (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER)).endpoints[CLUSTER];
  const entryOf = async () => (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(HOST));

  it('serves a provider both registries report once, and keeps it served while one registry drops it', async () => {
    const inA = await zkA.register(IFACE, '10.0.9.1', 20880);
    await zkB.register(IFACE, '10.0.9.1', 20880);
    await zkA.register(IFACE, '10.0.9.2', 20880);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
    const se = await waitFor(
      async () => {
        const s = await entryOf();
        return s?.metadata.annotations?.[SOURCES_ANNOTATION] === 'zk-a,zk-b' ? s : undefined;
      },
      { what: `${HOST} from both sources in istiod configz`, timeoutMs: 30_000 },
    );
    assert.deepEqual(
      se.spec.endpoints.map((e: { address: string; labels: Record<string, string> }) => [
        e.address,
        e.labels[SOURCE_LABEL],
      ]),
      [
        ['10.0.9.1', 'zk-a'],
        ['10.0.9.2', 'zk-a'],
      ],
    );
    const eds = await waitFor(
      async () => {
        const e = await edsOf();
        return e?.length ? e : undefined;
      },
      {
        what: `EDS for ${CLUSTER}`,
        timeoutMs: 30_000,
      },
    );
    assert.deepEqual(eds, [
      { address: '10.0.9.1', port: 20880 },
      { address: '10.0.9.2', port: 20880 },
    ]);

    // Registry A drops the provider (the move to B goes on): B's report keeps it served, without a gap.
    await zkA.unregister(inA);
    const gaps: string[] = [];
    await waitFor(
      async () => {
        const at = (await entryOf())?.spec.endpoints?.find((e: { address: string }) => e.address === '10.0.9.1');
        if (!at) gaps.push(new Date().toISOString());
        return at?.labels[SOURCE_LABEL] === 'zk-b' || undefined;
      },
      { what: 'registry B serving 10.0.9.1', timeoutMs: 30_000, intervalMs: 20 },
    );
    assert.deepEqual(gaps, [], '10.0.9.1 is registered in B all along and must never leave istiod');
    assert.deepEqual(await edsOf(), [
      { address: '10.0.9.1', port: 20880 },
      { address: '10.0.9.2', port: 20880 },
    ]);
  });
});
