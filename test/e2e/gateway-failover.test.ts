import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { startIstiod, type IstiodServer } from '../../harness/istiod.ts';
import { SnapshotWriter, serviceEntry } from '../../harness/snapshot-writer.ts';
import { spawnGateway, type GatewayProcess } from '../../harness/gateway-fleet.ts';
import { startTcpProxy, type TcpProxy } from '../../harness/tcp-proxy.ts';
import { makeServerCerts } from '../../harness/certs.ts';
import { isListening } from '../../harness/ports.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const HOSTS = ['orders.dubbo', 'payments.dubbo', 'stock.dubbo'];
const CLUSTER = 'outbound|20880||orders.dubbo';

/**
 * Polls istiod's configz continuously and records every moment it did not hold all of `hosts` — the deletion window
 * a wrong gateway answer (or a partial one after a restart) would open.
 */
function watchConfig(istiod: IstiodServer, hosts: string[]) {
  const gaps: string[] = [];
  let polls = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const have = new Set((await serviceEntries(istiod.debug)).flatMap((c) => c.spec.hosts ?? []));
      polls++;
      const missing = hosts.filter((h) => !have.has(h));
      if (missing.length > 0) gaps.push(`${new Date().toISOString()} missing ${missing.join(',')}`);
      await new Promise((r) => setImmediate(r)); // yield only: poll as often as istiod answers
    }
  })();
  return {
    gaps,
    get polls() {
      return polls;
    },
    get stopped() {
      return stopped;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const connectedTo = async (gw: GatewayProcess) =>
  (await (await fetch(`http://127.0.0.1:${gw.httpPort}/debug/istiods`)).json()) as {
    nodeId: string;
    types: Record<string, { acked?: string }>;
  }[];

describe('a gateway fleet behind one address: istiod fails over without losing config (real istiod)', () => {
  let runDir: string;
  let redis: RedisServer;
  let writer: SnapshotWriter;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let front: TcpProxy;
  let istiod: IstiodServer;

  before(async () => {
    ensureInstalled(['redis', 'istiod']);
    runDir = makeRunDir('gateway-failover');
    redis = await startRedis(runDir);
    writer = await SnapshotWriter.open(redis.url);
    await writer.commit(
      new Map(HOSTS.map((h, i) => serviceEntry({ namespace: 'dubbo', host: h, endpoints: 2, seed: i }))),
      [],
      { complete: true },
    );
    a = await spawnGateway(runDir, redis.url, writer.prefix, { name: 'gateway-a' });
    b = await spawnGateway(runDir, redis.url, writer.prefix, { name: 'gateway-b' });
    front = await startTcpProxy(() => [a.grpcPort, b.grpcPort]);
    istiod = await startIstiod(runDir, `xds://127.0.0.1:${front.port}`);
  });

  after(async () => {
    await istiod?.stop();
    await front?.close();
    await Promise.all([a?.proc.stop(), b?.proc.stop()]);
    writer?.close();
    await redis?.stop();
  });

  it('kill -9 of the connected replica: istiod reconnects to the other and never loses a ServiceEntry', async () => {
    await waitFor(async () => (await serviceEntries(istiod.debug)).length === HOSTS.length, {
      what: 'istiod holds the ServiceEntries',
      timeoutMs: 30_000,
    });
    assert.equal((await connectedTo(a)).length, 1, 'istiod is connected to replica a');
    const watch = watchConfig(istiod, HOSTS);
    try {
      await a.proc.kill();
      const onB = await waitFor(
        async () => (await connectedTo(b)).find((s) => s.types['networking.istio.io/v1/ServiceEntry']?.acked),
        { what: 'istiod reconnected to replica b and ACKed its ServiceEntries', timeoutMs: 30_000 },
      );
      assert.match(onB.nodeId, /istiod/);
      // Keep watching through istiod's processing of b's (identical) answer, then through a real update via b.
      const v = await writer.commit(
        new Map([serviceEntry({ namespace: 'dubbo', host: 'orders.dubbo', endpoints: 3, seed: 9 })]),
      );
      await waitFor(
        async () =>
          (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes('orders.dubbo'))?.spec.endpoints
            ?.length === 3,
        { what: `update (version ${v}) through replica b`, timeoutMs: 30_000 },
      );
    } finally {
      await watch.stop();
    }
    assert.ok(watch.polls > 20, `configz polled continuously (${watch.polls} polls)`);
    assert.deepEqual(watch.gaps, [], 'istiod never lacked a ServiceEntry during the failover');
    assert.deepEqual(front.routed.slice(-1), [b.grpcPort]);
    const view = await waitFor(
      async () => {
        const pv = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c === CLUSTER);
        return pv.endpoints[CLUSTER]?.length === 3 ? pv : undefined;
      },
      { what: 'sidecar view after failover', timeoutMs: 30_000 },
    );
    assert.equal(view.endpoints[CLUSTER]!.length, 3);
  });

  it('Redis restarts empty: the gateway keeps serving the last complete snapshot, then follows the new lineage once complete', async () => {
    const before = (await (await fetch(`http://127.0.0.1:${b.httpPort}/debug/resources`)).json()) as {
      version: number;
      resources: unknown[];
    };
    const watch = watchConfig(istiod, HOSTS);
    try {
      writer.close();
      await redis.stop();
      redis = await startRedis(runDir, { port: redis.port, name: 'redis-restarted' });
      // A projector rebuilding into the empty Redis: a new lineage, incomplete at first.
      writer = await SnapshotWriter.open(redis.url, writer.prefix);
      const partial = await writer.commit(
        new Map([serviceEntry({ namespace: 'dubbo', host: 'orders.dubbo', endpoints: 1 })]),
      );
      const ready = await waitFor(
        async () => {
          const r = await fetch(`http://127.0.0.1:${b.httpPort}/readyz`);
          const body = (await r.json()) as {
            detail: { version: number; redisVersion: number; awaitingRebuild: boolean };
          };
          return body.detail.awaitingRebuild && body.detail.redisVersion === partial
            ? { status: r.status, ...body.detail }
            : undefined;
        },
        { what: 'gateway saw the incomplete rebuild in Redis', timeoutMs: 15_000 },
      );
      assert.deepEqual(
        [ready.status, ready.version],
        [200, before.version],
        'ready, serving the last complete version',
      );
      const served = (await (await fetch(`http://127.0.0.1:${b.httpPort}/debug/resources`)).json()) as {
        version: number;
        resources: unknown[];
      };
      assert.equal(
        served.version,
        before.version,
        `still serving version ${before.version}, not the incomplete ${partial}`,
      );
      assert.equal(served.resources.length, HOSTS.length);
      // The rebuild completes: now, and only now, the gateway switches to it.
      const rebuilt = new Map(
        HOSTS.map((h, i) => serviceEntry({ namespace: 'dubbo', host: h, endpoints: 4, seed: 20 + i })),
      );
      await writer.commit(rebuilt, [], { complete: true });
      await waitFor(async () => (await serviceEntries(istiod.debug)).every((c) => c.spec.endpoints?.length === 4), {
        what: 'istiod holds the rebuilt snapshot',
        timeoutMs: 30_000,
      });
    } finally {
      await watch.stop();
    }
    assert.deepEqual(watch.gaps, [], 'istiod never lacked a ServiceEntry across the Redis restart');
  });

  it('Redis loses its last writes (kill -9, restored older): versions never go back, the gateway never serves the older state', async () => {
    const served = async () =>
      ((await (await fetch(`http://127.0.0.1:${b.httpPort}/debug/resources`)).json()) as { version: number }).version;
    await writer.redis.save(); // what survives the crash: Redis restarts from this RDB
    const savedOffset = writer.storedOffset;
    await writer.commit(new Map([serviceEntry({ namespace: 'dubbo', host: 'late.dubbo', endpoints: 1, seed: 40 })]));
    const newest = await writer.commit(
      new Map([serviceEntry({ namespace: 'dubbo', host: 'late.dubbo', endpoints: 2, seed: 40 })]),
    );
    await waitFor(
      async () =>
        (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes('late.dubbo'))?.spec.endpoints
          ?.length === 2,
      { what: 'istiod holds late.dubbo', timeoutMs: 30_000 },
    );
    assert.equal(await served(), newest);
    const watch = watchConfig(istiod, [...HOSTS, 'late.dubbo']);
    const versions: number[] = [];
    const sampling = (async () => {
      while (!watch.stopped) {
        versions.push(await served().catch(() => -1));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await redis.proc.kill();
      redis = await startRedis(runDir, { port: redis.port, name: 'redis-older' });
      const redisVersion = Number(
        await waitFor(async () => writer.redis.get(writer.keys.version).catch(() => null), {
          what: 'Redis back',
          timeoutMs: 15_000,
        }),
      );
      assert.ok(redisVersion < newest, `Redis came back older (${redisVersion} < ${newest})`);
      // The gateway notices, and keeps serving what istiod already has.
      await waitFor(
        () => fs.readFileSync(b.proc.logFile, 'utf8').includes('redis is behind the snapshot we serve') || undefined,
        { what: 'the gateway noticing Redis is behind', timeoutMs: 20_000 },
      );
      assert.equal(await served(), newest, 'still serving the newest snapshot, not the older one Redis holds');
      // The projector (here its commit script, with the versions it already saw) goes on from the older offset.
      writer.rewindTo(savedOffset);
      const next = await writer.commit(
        new Map([serviceEntry({ namespace: 'dubbo', host: 'late.dubbo', endpoints: 3, seed: 40 })]),
      );
      assert.ok(next > newest, `the next version ${next} is above ${newest}, the newest before the crash`);
      await waitFor(
        async () =>
          (await serviceEntries(istiod.debug)).find((c) => c.spec.hosts?.includes('late.dubbo'))?.spec.endpoints
            ?.length === 3,
        { what: 'istiod holds the version after the crash', timeoutMs: 30_000 },
      );
    } finally {
      await watch.stop();
      await sampling;
    }
    const seen = versions.filter((v) => v > 0);
    assert.ok(
      seen.every((v, i) => i === 0 || v >= seen[i - 1]!),
      `served versions never went back: ${[...new Set(seen)].join(' ')}`,
    );
    assert.deepEqual(watch.gaps, [], 'istiod never lacked a ServiceEntry');
  });

  it('serves a real istiod over TLS (configSources[].tlsSettings SIMPLE with our CA)', async () => {
    const certs = makeServerCerts(path.join(runDir, 'certs'));
    const tlsGw = await spawnGateway(runDir, redis.url, writer.prefix, {
      name: 'gateway-tls',
      gateway: { tls: { certFile: certs.serverCert, keyFile: certs.serverKey } },
    });
    let tlsIstiod: IstiodServer | undefined;
    try {
      tlsIstiod = await startIstiod(path.join(runDir, 'tls'), `xds://127.0.0.1:${tlsGw.grpcPort}`, {
        // caCertificates holds the PEM itself (istiod: x509.CertPool.AppendCertsFromPEM([]byte(caCertificates))), not
        // a file path as in DestinationRule TLS settings.
        extraMesh: `  tlsSettings:\n    mode: SIMPLE\n    sni: localhost\n    subjectAltNames: [localhost]\n    caCertificates: |\n${indent(fs.readFileSync(certs.caCert, 'utf8'), 6)}`,
      });
      const ist = tlsIstiod;
      await waitFor(async () => (await serviceEntries(ist.debug)).length === HOSTS.length + 1, {
        what: 'ServiceEntries in the TLS istiod (HOSTS and late.dubbo)',
        timeoutMs: 30_000,
      });
      const conns = await connectedTo(tlsGw);
      assert.equal(conns.length, 1);
    } finally {
      await tlsIstiod?.stop();
      await tlsGw.proc.stop();
    }
    assert.equal(await isListening(tlsGw.grpcPort), false);
  });
});

function indent(text: string, n: number): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}\n`)
    .join('');
}
