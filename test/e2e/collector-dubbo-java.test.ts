import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { makeRunDir, versions } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startDubboProvider, type DubboProvider } from '../../harness/dubbo-java.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { freePort } from '../../harness/ports.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const IFACE_HOST = 'org.meshbridge.demo.greetingservice';
const APP_HOST = 'greeting-provider';
// Dubbo 2.7 (MESHBRIDGE_DUBBO_VERSION=2.7.x) has no application-level discovery: interface-level URLs only.
const APP_LEVEL = !versions.dubbo.startsWith('2.');

const VIEWS = APP_LEVEL ? 'interface- and application-level' : 'interface-level';

describe(`a real Apache Dubbo ${versions.dubbo} provider (Java) reaches a real istiod, ${VIEWS}`, () => {
  let servers: Servers;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let provider: DubboProvider;
  let port: number;
  const group = `dubbo-java-${process.pid}`;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-dubbo-java'), { istiod: true });
    port = await freePort();
    // Dubbo writes interfaces and application instances side by side under /<group>: one source per discovery mode.
    mb = await pipeline(servers, {
      sources: [
        {
          id: 'zk-if',
          kind: 'zookeeper-dubbo',
          connect: servers.zookeeper.connectString,
          root: `/${group}`,
          sessionTimeoutMs: 4000,
        },
        {
          id: 'zk-app',
          kind: 'zookeeper-dubbo',
          mode: 'application',
          connect: servers.zookeeper.connectString,
          servicesRoot: `/${group}`,
          namespace: 'dubbo-apps',
          sessionTimeoutMs: 4000,
        },
      ],
    });
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    provider = await startDubboProvider(servers.runDir, {
      zookeeper: servers.zookeeper.connectString,
      group,
      app: APP_HOST,
      port,
    });
  });

  after(async () => {
    await provider?.stop();
    await istiod?.stop();
    await mb?.stop();
    await servers?.stop();
  });

  it('serves both views (Dubbo 3) or the interface view (2.7) to istiod and removes its endpoints on shutdown', async () => {
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
    const [ifaceSe, appSe] = await waitFor(
      async () => {
        const all = await serviceEntries(istiod.debug);
        const a = all.find((c) => c.spec.hosts?.includes(IFACE_HOST) && c.spec.endpoints?.length === 1);
        const b = all.find((c) => c.spec.hosts?.includes(APP_HOST) && c.spec.endpoints?.length === 1);
        if (!APP_LEVEL) return a ? ([a, a] as const) : undefined;
        return a && b ? ([a, b] as const) : undefined;
      },
      { what: 'the ServiceEntries in istiod configz', timeoutMs: 60_000 },
    );
    assert.equal(ifaceSe.metadata.namespace, 'dubbo');
    assert.deepEqual(ifaceSe.spec.ports, [{ number: port, protocol: 'TCP', name: 'tcp-dubbo' }]);
    const address = ifaceSe.spec.endpoints[0].address;
    assert.ok(net.isIP(address), `Dubbo registered an IP (${address})`);
    assert.equal(ifaceSe.spec.endpoints[0].labels.version, '1.0.0');
    assert.equal(ifaceSe.spec.endpoints[0].labels.app, APP_HOST);
    if (!APP_LEVEL) {
      // The interface view is a whole pipeline's worth of proof; the app view must not appear from nowhere.
      const all = await serviceEntries(istiod.debug);
      assert.equal(
        all.find((c) => c.spec.hosts?.includes(APP_HOST)),
        undefined,
        'Dubbo 2.7 registers no application',
      );
    }
    if (APP_LEVEL) {
      assert.equal(appSe.metadata.namespace, 'dubbo-apps');
      assert.deepEqual(appSe.spec.ports, [{ number: port, protocol: 'TCP', name: 'tcp-dubbo' }]);
      assert.equal(appSe.spec.endpoints[0].address, address);
      assert.equal(appSe.spec.endpoints[0].labels.app, APP_HOST);
      assert.ok(appSe.spec.endpoints[0].labels['dubbo.apache.org/revision'], 'metadata revision label');
    }

    const clusters = [`outbound|${port}||${IFACE_HOST}`, ...(APP_LEVEL ? [`outbound|${port}||${APP_HOST}`] : [])];
    const view = await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => clusters.includes(c));
        return clusters.every((c) => v.endpoints[c]?.length === 1) ? v : undefined;
      },
      { what: 'EDS for both clusters', timeoutMs: 30_000 },
    );
    for (const c of clusters) assert.deepEqual(view.endpoints[c], [{ address, port }]);

    // Dubbo's shutdown hook unregisters the provider: its endpoints leave the mesh.
    await provider.stop();
    await waitFor(
      async () => {
        const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => clusters.includes(c));
        return clusters.every((c) => (v.endpoints[c]?.length ?? 0) === 0) ? v : undefined;
      },
      { what: 'no endpoints after the provider stopped', timeoutMs: 30_000 },
    );
  });
});
