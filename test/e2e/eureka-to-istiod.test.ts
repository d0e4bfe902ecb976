import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import {
  startServers,
  startAllOrNone,
  pipeline,
  startIstiodFor,
  getJson,
  type Servers,
  type Pipeline,
} from '../../harness/stack.ts';
import { startEureka, startEurekaClientApp, type EurekaCluster } from '../../harness/eureka.ts';
import { EurekaRegistrar } from '../../harness/eureka-registrar.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { freePort } from '../../harness/ports.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries, type IstiodConfig } from '../support/istiod-view.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';

const REFRESH_MS = 1000;
const cluster = (host: string, port: number) => `outbound|${port}||${host}`;

/**
 * Eureka → collector (delta protocol) → Kafka → projector → Redis → gateway → a real istiod, against two real Eureka
 * servers replicating to each other: instances registered through Eureka's REST API, status changes, cancels, a new
 * app, the collector's peer failing, and a real Spring Boot app with the Eureka client coming and going.
 */
describe("apps registered in Eureka reach a real istiod through the collector's delta protocol", {
  timeout: 900_000,
}, () => {
  let servers: Servers;
  let eureka: EurekaCluster;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let peer0: EurekaRegistrar;
  let peer1: EurekaRegistrar;
  let runDir: string;

  const se = async (host: string): Promise<IstiodConfig | undefined> =>
    (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes(host));
  const eds = async (host: string, port: number) =>
    (await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === cluster(host, port))).endpoints[
      cluster(host, port)
    ] ?? [];
  const addresses = async (host: string, port: number) =>
    (await eds(host, port)).map((e) => `${e.address}:${e.port}`).sort();
  const metric = async (line: RegExp) => {
    const text = await (await fetch(`http://127.0.0.1:${mb.ports.collectorHttp}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => line.test(l))
      .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  };

  before(async () => {
    runDir = makeRunDir('e2e-eureka-istiod');
    // A short delta retention (Eureka's default: 3 min) lets the test make the collector miss changes in seconds.
    const retention = [
      '--eureka.server.retention-time-in-m-s-in-delta-queue=4000',
      '--eureka.server.delta-retention-timer-interval-in-ms=500',
    ];
    [servers, eureka] = await startAllOrNone([
      startServers(runDir, { istiod: true }),
      startEureka(runDir, { peers: 2, args: retention }),
    ] as const);
    peer0 = new EurekaRegistrar(eureka.urls[0]!);
    peer1 = new EurekaRegistrar(eureka.urls[1]!);
    // A long lease: the test pauses the collector, which must come back as the same leader, still holding its copy.
    mb = await pipeline(servers, {
      sources: [
        {
          id: 'eureka1',
          kind: 'eureka',
          serviceUrls: eureka.urls,
          refreshIntervalMs: REFRESH_MS,
          leaderElection: { leaseMs: 120_000 },
        },
      ],
    });
    await Promise.all([mb.start('collector'), mb.start('projector'), mb.start('gateway')]);
  });

  after(async () => {
    await istiod?.stop();
    await mb?.stop();
    await eureka?.stop();
    await servers?.stop();
  });

  it('serves a Eureka app as a ServiceEntry istiod holds and hands to sidecars', async () => {
    await peer0.register({
      app: 'orders',
      id: 'orders-1',
      ip: '10.6.0.11',
      port: 8080,
      securePort: 8443,
      metadata: { version: 'v1', 'management.port': '9090' },
    });
    await peer0.register({
      app: 'orders',
      id: 'orders-2',
      ip: '10.6.0.12',
      port: 8080,
      securePort: 8443,
      metadata: { version: 'v2' },
    });
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 60_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);

    const entry = await waitFor(
      async () => {
        const e = await se('orders');
        return e?.spec.endpoints?.length === 2 ? e : undefined;
      },
      { what: 'ServiceEntry orders with 2 endpoints in istiod configz', timeoutMs: 60_000 },
    );
    console.log(`# istiod holds (configz): ${JSON.stringify({ metadata: entry.metadata, spec: entry.spec })}`);
    assert.equal(entry.metadata.namespace, 'eureka');
    assert.deepEqual(entry.spec.ports, [
      { number: 8080, protocol: 'HTTP', name: 'http' },
      { number: 8443, protocol: 'HTTPS', name: 'https' },
    ]);
    assert.equal(entry.spec.resolution, 'STATIC');
    const byAddr = Object.fromEntries(entry.spec.endpoints.map((e: { address: string }) => [e.address, e]));
    assert.deepEqual(byAddr['10.6.0.11'].labels, { version: 'v1', 'meshbridge.io/source': 'eureka1' });
    // Both instances on the service's ports: the endpoints name none, istiod infers them (EDS below).
    assert.equal(byAddr['10.6.0.11'].ports, undefined);
    assert.equal(byAddr['10.6.0.12'].ports, undefined);

    await waitFor(async () => (await addresses('orders', 8080)).length === 2, {
      what: 'EDS for orders:8080',
      timeoutMs: 30_000,
    });
    assert.deepEqual(await addresses('orders', 8080), ['10.6.0.11:8080', '10.6.0.12:8080']);
    assert.deepEqual(await addresses('orders', 8443), ['10.6.0.11:8443', '10.6.0.12:8443']);
  });

  it('an instance that cannot be an endpoint is reported and the rest is kept', async () => {
    await peer0.register({ app: 'orders', id: 'orders-3', ip: 'orders-3.internal', port: 8080 });
    const problems = await waitFor(
      async () => {
        const body = (await (await fetch(`http://127.0.0.1:${mb.ports.collectorHttp}/debug/problems`)).json()) as {
          eureka1: { problems: { subject: string; field: string; reason: string }[] };
        };
        const p = body.eureka1.problems.filter((x) => x.field === 'instances[orders-3].ipAddr');
        return p.length > 0 ? p : undefined;
      },
      { what: 'problem reported for orders-3', timeoutMs: 30_000 },
    );
    assert.match(problems[0]!.reason, /not an IP address/);
    assert.ok((await metric(/^meshbridge_collector_data_problems\{.*source="eureka1"/)) >= 1);
    assert.equal((await se('orders'))?.spec.endpoints.length, 2);
    await peer0.cancel('orders', 'orders-3');
  });

  it('status DOWN and cancel take endpoints out within about one refresh interval', async () => {
    const t0 = performance.now();
    await peer0.setStatus('orders', 'orders-1', 'DOWN');
    await waitFor(
      async () => {
        const a = await addresses('orders', 8080);
        return a.length === 1 && a[0] === '10.6.0.12:8080';
      },
      { what: 'DOWN instance out of EDS', timeoutMs: 30_000, intervalMs: 50 },
    );
    const downMs = performance.now() - t0;

    const t1 = performance.now();
    await peer0.cancel('orders', 'orders-2');
    await waitFor(
      async () =>
        (await se('orders'))?.spec.endpoints?.length === undefined ||
        (await se('orders'))?.spec.endpoints?.length === 0,
      { what: 'cancelled instance out of configz', timeoutMs: 30_000, intervalMs: 50 },
    );
    const cancelMs = performance.now() - t1;

    await peer0.cancel('orders', 'orders-1');
    await waitFor(async () => (await se('orders')) === undefined, {
      what: 'ServiceEntry orders removed once the app is gone',
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    console.log(
      `# eureka (refresh ${REFRESH_MS} ms): DOWN -> out of EDS ${downMs.toFixed(0)} ms, ` +
        `cancel -> out of configz ${cancelMs.toFixed(0)} ms`,
    );
    // One refresh interval plus the pipeline; generous for a loaded machine, and still far below a 30 s full poll.
    assert.ok(downMs < 10 * REFRESH_MS, `DOWN took ${downMs.toFixed(0)} ms`);
    assert.ok(cancelMs < 10 * REFRESH_MS, `cancel took ${cancelMs.toFixed(0)} ms`);
    assert.ok(
      (await metric(/^meshbridge_collector_watch_events_total\{.*kind="delta"/)) >= 3,
      'changes came by deltas',
    );
  });

  it('a new app appears in istiod', async () => {
    await peer0.register({
      app: 'payments',
      id: 'payments-1',
      ip: '10.6.1.1',
      port: 9000,
      metadata: { version: 'v3' },
    });
    await waitFor(async () => (await addresses('payments', 9000)).join() === '10.6.1.1:9000', {
      what: 'payments in EDS',
      timeoutMs: 30_000,
    });
    assert.equal((await se('payments'))?.spec.endpoints[0].labels.version, 'v3');
  });

  it('verify --registry reads Eureka afresh and finds the live snapshot equal; status reaches the peers', async () => {
    const v = await meshbridge(mb.configFile, ['verify', '--registry']);
    assert.equal(v.code, 0, `verify --registry: exit ${v.code}\n${v.stdout}\n${v.stderr}`);
    assert.match(v.stdout, /eureka1/);
    const st = await meshbridge(mb.configFile, ['status']);
    assert.match(st.stdout, /registry eureka1.*eureka http:\/\/127\.0\.0\.1:\d+\/eureka: answers/i, st.stdout);
  });

  it('a collector that missed deltas notices by the hash code and re-reads everything', async () => {
    const collector = mb.procs.collector!;
    const noDelta = async () => {
      const d = (await (
        await fetch(`${eureka.urls[0]}/apps/delta`, { headers: { accept: 'application/json' } })
      ).json()) as { applications: { application: unknown[] } };
      return d.applications.application.length === 0;
    };
    collector.signal('SIGSTOP');
    try {
      await peer0.register({ app: 'payments', id: 'payments-2', ip: '10.6.1.2', port: 9000 });
      await peer0.register({ app: 'shipping', id: 'shipping-1', ip: '10.6.3.1', port: 9100 });
      // Until both changes have aged out of the server's delta: the collector will never see them in one.
      await waitFor(noDelta, { what: 'changes gone from the Eureka delta', timeoutMs: 60_000, intervalMs: 250 });
    } finally {
      collector.signal('SIGCONT');
    }
    await waitFor(
      async () => (await addresses('payments', 9000)).length === 2 && (await addresses('shipping', 9100)).length === 1,
      { what: 'missed changes in EDS after the full fetch', timeoutMs: 60_000 },
    );
    assert.ok(
      (await metric(/^meshbridge_collector_resyncs_total\{.*reason="hashcode-mismatch"/)) >= 1,
      'a full fetch for a hash code mismatch',
    );
    await peer0.cancel('payments', 'payments-2');
    await waitFor(async () => (await addresses('payments', 9000)).length === 1, {
      what: 'payments-2 cancelled',
      timeoutMs: 30_000,
    });
  });

  it('keeps going on the other peer when the one it reads stops', async () => {
    await eureka.peers[0]!.stop();
    await peer1.register({ app: 'inventory', id: 'inventory-1', ip: '10.6.2.1', port: 7000 });
    await waitFor(async () => (await addresses('inventory', 7000)).join() === '10.6.2.1:7000', {
      what: 'inventory (registered on the second peer) in EDS',
      timeoutMs: 60_000,
    });
    assert.ok(
      (await metric(/^meshbridge_collector_errors_total\{.*stage="failover"/)) >= 1,
      'the collector failed over',
    );
    // What the first peer replicated before it stopped is still there (the full fetch from the second peer kept it).
    assert.deepEqual(await addresses('payments', 9000), ['10.6.1.1:9000']);
    await peer1.setStatus('payments', 'payments-1', 'OUT_OF_SERVICE');
    await waitFor(async () => (await addresses('payments', 9000)).length === 0, {
      what: 'OUT_OF_SERVICE instance out of EDS (second peer)',
      timeoutMs: 30_000,
    });
  });

  it('a real Spring Boot app with the Eureka client registers, reaches istiod, and leaves when stopped', async () => {
    const port = await freePort();
    const app = await startEurekaClientApp(runDir, {
      eurekaUrls: [eureka.urls[1]!],
      app: 'greeter',
      port,
      version: '2.1.0',
    });
    try {
      const entry = await waitFor(
        async () => {
          const e = await se('greeter');
          return e?.spec.endpoints?.length === 1 ? e : undefined;
        },
        { what: 'ServiceEntry greeter (Spring Boot app) in istiod', timeoutMs: 120_000 },
      );
      assert.equal(entry.spec.endpoints[0].address, '127.0.0.1');
      // The one instance's port is the service's: the endpoint names none, istiod infers it (EDS below).
      assert.deepEqual(entry.spec.ports, [{ number: port, protocol: 'HTTP', name: 'http' }]);
      assert.equal(entry.spec.endpoints[0].ports, undefined);
      assert.equal(entry.spec.endpoints[0].labels.version, '2.1.0');
      await waitFor(async () => (await addresses('greeter', port)).join() === `127.0.0.1:${port}`, {
        what: 'greeter in EDS',
        timeoutMs: 30_000,
      });
      // The endpoint istiod hands out is the app itself.
      assert.match(await (await fetch(`http://127.0.0.1:${port}/hello`)).text(), /hello from meshbridge/);
    } finally {
      await app.stop();
    }
    await waitFor(async () => (await se('greeter')) === undefined, {
      what: 'greeter gone from istiod after the app stopped (it cancels its registration)',
      timeoutMs: 60_000,
    });
  });
});
