import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startNacos, type NacosServer } from '../../harness/nacos.ts';
import { startDubboNacosProvider } from '../../harness/dubbo-nacos.ts';
import type { DubboProvider } from '../../harness/dubbo-java.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { freePort } from '../../harness/ports.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const APP = 'greeter-app';
const IFACE_HOST = 'org.meshbridge.demo.greetingservice';

/**
 * A real Apache Dubbo provider registering in a real Nacos through Dubbo's own dubbo-registry-nacos (interface- and
 * application-level), reaching a real istiod through the collector, and leaving it again when it stops.
 */
describe('a Dubbo provider with the Nacos registry reaches a real istiod and leaves it when stopped', () => {
  let servers: Servers;
  let nacos: NacosServer;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let provider: (DubboProvider & { host: string }) | undefined;

  before(async () => {
    const runDir = makeRunDir('e2e-nacos-dubbo');
    [servers, nacos] = await Promise.all([startServers(runDir, { istiod: true }), startNacos(runDir)]);
    mb = await pipeline(servers, {
      sources: [{ id: 'nacos-dubbo', kind: 'nacos', address: nacos.address, fuzzyWatch: false, listIntervalMs: 1000 }],
    });
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 60_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
  });

  after(async () => {
    await provider?.stop();
    await istiod?.stop();
    await mb?.stop();
    await nacos?.stop();
    await servers?.stop();
  });

  it('interface- and application-level registrations become ServiceEntries with the provider as endpoint', async () => {
    const port = await freePort();
    provider = await startDubboNacosProvider(servers.runDir, { nacos: `127.0.0.1:${nacos.httpPort}`, app: APP, port });
    const hosts = [IFACE_HOST, APP];
    const entries = await waitFor(
      async () => {
        const all = await serviceEntries(istiod.debug);
        const found = hosts.map((h) => all.find((c) => c.spec.hosts?.includes(h)));
        return found.every((e) => (e?.spec.endpoints ?? []).length === 1) ? found : undefined;
      },
      { what: `ServiceEntries ${hosts.join(', ')} in istiod`, timeoutMs: 120_000, intervalMs: 250 },
    );
    for (const e of entries) {
      assert.equal(e!.metadata.namespace, 'nacos');
      assert.equal(e!.spec.endpoints[0].address, provider.host);
      assert.deepEqual(e!.spec.ports, [{ number: port, protocol: 'TCP', name: 'tcp' }]);
      assert.equal(e!.spec.endpoints[0].labels['meshbridge.io/source'], 'nacos-dubbo');
    }
    // The interface-level registration carries Dubbo's version as the version label.
    assert.equal(entries[0]!.spec.endpoints[0].labels.version, '1.0.0');
    for (const h of hosts) {
      const cluster = `outbound|${port}||${h}`;
      await waitFor(
        async () => {
          const v = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === cluster);
          return v.endpoints[cluster]?.length === 1 && v.endpoints[cluster]![0]!.port === port ? true : undefined;
        },
        { what: `EDS for ${cluster}`, timeoutMs: 30_000 },
      );
    }
  });

  it('stopping the provider removes its endpoints and then its services from istiod', async () => {
    await provider!.stop();
    provider = undefined;
    await waitFor(
      async () => {
        const all = await serviceEntries(istiod.debug);
        return [IFACE_HOST, APP].every(
          (h) => (all.find((c) => c.spec.hosts?.includes(h))?.spec.endpoints ?? []).length === 0,
        )
          ? true
          : undefined;
      },
      { what: 'provider endpoints gone from istiod', timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor(
      async () => {
        const all = await serviceEntries(istiod.debug);
        return [IFACE_HOST, APP].every((h) => !all.some((c) => c.spec.hosts?.includes(h))) ? true : undefined;
      },
      {
        what: 'provider services gone from istiod (Nacos deleted the empty services)',
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
  });
});
