import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fs from 'node:fs';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { SnapshotWriter, serviceEntry } from '../../harness/snapshot-writer.ts';
import { startGatewayInProcess } from '../../harness/gateway-fleet.ts';
import { makeServerCerts } from '../../harness/certs.ts';
import { XdsClient, type DecodedResponse } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { DiscoveryResponse } from '../../schemas/proto.ts';

const NODE = {
  id: 'sidecar~127.0.0.1~istiod-local.istio-system~istio-system.svc.cluster.local',
  metadata: { GENERATOR: 'api', ISTIO_VERSION: '1.30.0' },
};
const MESH = 'core/v1alpha1/MeshConfig';
const SE = 'networking.istio.io/v1/ServiceEntry';
const WE = 'networking.istio.io/v1/WorkloadEntry';
/** What istiod 1.24–1.29 asks for, plus 1.30's TrafficExtension and the v1alpha3 GVKs of 1.22–1.23. */
const TYPES = [
  MESH,
  'security.istio.io/v1/AuthorizationPolicy',
  'networking.istio.io/v1/DestinationRule',
  'networking.istio.io/v1alpha3/EnvoyFilter',
  'networking.istio.io/v1/Gateway',
  'security.istio.io/v1/PeerAuthentication',
  'networking.istio.io/v1beta1/ProxyConfig',
  'security.istio.io/v1/RequestAuthentication',
  SE,
  'networking.istio.io/v1/Sidecar',
  'telemetry.istio.io/v1/Telemetry',
  'networking.istio.io/v1/VirtualService',
  'extensions.istio.io/v1alpha1/WasmPlugin',
  WE,
  'networking.istio.io/v1/WorkloadGroup',
  'extensions.istio.io/v1alpha1/TrafficExtension',
  'networking.istio.io/v1alpha3/ServiceEntry',
  'networking.istio.io/v1alpha3/WorkloadEntry',
  'security.istio.io/v1beta1/AuthorizationPolicy',
];

const Any = DiscoveryResponse.root.lookupType('google.protobuf.Any');
const anyBytes = (r: DecodedResponse) =>
  r.resources.map((a) => Buffer.from(Any.encode({ type_url: a.typeUrl, value: a.value }).finish()));

/** Subscribes like istiod does: one request per type, each with a made-up (timestamp) nonce. */
function subscribeAll(c: XdsClient, types = TYPES): Promise<DecodedResponse[]> {
  const pending = types.map((t) => c.next(t));
  for (const t of types) c.send({ typeUrl: t, nonce: String(Date.now()) });
  return Promise.all(pending);
}

const services = (ns: string, n: number, endpoints = 2, seed = 0) =>
  new Map(
    Array.from({ length: n }, (_, i) =>
      serviceEntry({ namespace: ns, host: `svc-${i}.${ns}`, endpoints, seed: seed + i }),
    ),
  );

describe('xds-gateway speaks the istiod MCP-over-xDS contract (real Redis, real gRPC)', () => {
  let runDir: string;
  let redis: RedisServer;
  const cleanups: (() => unknown)[] = [];
  const track = <T extends { close(): void } | { stop(): Promise<void> }>(x: T): T => {
    cleanups.push(() => ('close' in x ? x.close() : x.stop()));
    return x;
  };

  before(async () => {
    ensureInstalled(['redis']);
    runDir = makeRunDir('gateway-protocol');
    redis = await startRedis(runDir);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await redis?.stop();
  });

  it('answers every requested type (echoed exactly, MeshConfig empty, unknown types empty) with version_info = the global version', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    const version = await w.commit(services('dubbo', 3), [], { complete: true });
    const gw = track(await startGatewayInProcess(redis.url, w.prefix));
    const c = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    const rs = await subscribeAll(c);
    for (const [i, r] of rs.entries()) {
      assert.equal(r.typeUrl, TYPES[i], 'type URL echoed exactly');
      assert.equal(r.versionInfo, String(version), `${r.typeUrl}: version_info is the global snapshot version`);
      assert.equal(
        r.resources.length,
        /\/ServiceEntry$/.test(r.typeUrl) ? 3 : 0,
        `${r.typeUrl} resources (WorkloadEntry is not served: empty)`,
      );
    }
    assert.deepEqual(
      anyBytes(rs[TYPES.indexOf(SE)]!),
      anyBytes(rs[TYPES.indexOf('networking.istio.io/v1alpha3/ServiceEntry')]!),
      'v1 and v1alpha3 GVKs carry the same resources',
    );
    assert.deepEqual(
      [...services('dubbo', 3).keys()].sort().map((f) => services('dubbo', 3).get(f)),
      anyBytes(rs[TYPES.indexOf(SE)]!),
      "resources in name order, the projector's bytes",
    );
  });

  it('tracks ACKs per type; a slow stream is sent the newest version when it catches up, never a backlog', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    // Big enough (~1.5 MiB per response) that a stream that stops reading fills its HTTP/2 window and write buffer.
    await w.commit(services('dubbo', 2000, 10), [], { complete: true });
    const gw = track(await startGatewayInProcess(redis.url, w.prefix));
    const fast = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    const slow = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, { ...NODE, id: 'slow' }).open());
    const [first] = await subscribeAll(slow, [SE]);
    const [fastFirst] = await subscribeAll(fast, [SE]);
    fast.ack(fastFirst!);
    // The slow istiod neither reads nor ACKs while five versions go by.
    (slow as unknown as { call: grpc.ClientDuplexStream<Buffer, Buffer> }).call.pause();
    let last = 0;
    for (let i = 0; i < 5; i++)
      last = await w.commit(new Map([serviceEntry({ namespace: 'dubbo', host: `burst-${i}.dubbo`, endpoints: 1 })]));
    // The fast one follows every change it can take and ACKs it (its ACK tracking is visible in the debug view).
    await waitFor(
      async () => {
        const r = fast.received.at(-1)!;
        if (r.versionInfo !== String(last)) {
          fast.ack(r);
          return false;
        }
        fast.ack(r);
        return true;
      },
      { what: `fast stream at version ${last}`, timeoutMs: 15_000, intervalMs: 20 },
    );
    const debug = await waitFor(
      async () => {
        const ist = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/debug/istiods`)).json()) as {
          nodeId: string;
          types: Record<string, { acked?: string; lastVersion?: string; awaitingAck: boolean }>;
        }[];
        const f = ist.find((i) => i.nodeId === NODE.id);
        return f?.types[SE]?.acked === String(last) ? ist : undefined;
      },
      { what: 'fast stream ACK visible in /debug/istiods', timeoutMs: 5_000 },
    );
    const s = debug.find((i) => i.nodeId === 'slow')!;
    assert.equal(s.types[SE]!.lastVersion, first!.versionInfo, 'nothing more sent to a stream that has not ACKed');
    assert.equal(s.types[SE]!.awaitingAck, true);
    // The slow istiod catches up: it reads the response in flight, ACKs it, and is sent the newest version directly.
    const next = slow.next(SE);
    (slow as unknown as { call: grpc.ClientDuplexStream<Buffer, Buffer> }).call.resume();
    slow.ack(first!);
    const caught = await next;
    assert.equal(caught.versionInfo, String(last), 'newest version, not the next one in line');
    assert.deepEqual(
      slow.received.filter((r) => r.typeUrl === SE).map((r) => r.versionInfo),
      [first!.versionInfo, String(last)],
    );
    assert.equal(caught.resources.length, 2005);
  });

  it('pushes an isolated change at once, and a burst within the debounce window as one push of the newest version', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 3), [], { complete: true });
    const windowMs = 1000; // large, so "at once" and "after the window" cannot be confused on a busy machine
    const gw = track(await startGatewayInProcess(redis.url, w.prefix, { debounceMs: windowMs }));
    const c = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    for (const r of await subscribeAll(c, [SE])) c.ack(r);
    // Isolated change: no push for longer than the window, so it goes out without waiting for it.
    await new Promise((r) => setTimeout(r, windowMs + 100)); // let the window that began with the first answer close
    const isolated = c.next(SE, 10_000);
    const t0 = performance.now();
    const v1 = await w.commit(new Map([serviceEntry({ namespace: 'dubbo', host: 'isolated.dubbo', endpoints: 1 })]));
    const r1 = await isolated;
    const leadMs = performance.now() - t0;
    assert.equal(r1.versionInfo, String(v1));
    assert.ok(
      leadMs < windowMs / 2,
      `isolated change pushed in ${leadMs.toFixed(0)} ms, not after the ${windowMs} ms window`,
    );
    c.ack(r1);
    // A burst right after that push: every change collapses into one trailing push, carrying the newest version.
    const before = c.received.filter((r) => r.typeUrl === SE).length;
    let last = 0;
    for (let i = 0; i < 5; i++)
      last = await w.commit(new Map([serviceEntry({ namespace: 'dubbo', host: `burst-${i}.dubbo`, endpoints: 1 })]));
    const trailing = await waitFor(
      () =>
        c.received
          .filter((r) => r.typeUrl === SE)
          .slice(before)
          .find((r) => r.versionInfo === String(last)),
      { what: 'trailing push of the newest version', timeoutMs: 10_000, intervalMs: 20 },
    );
    assert.equal(trailing.resources.length, 3 + 1 + 5);
    assert.equal(c.received.filter((r) => r.typeUrl === SE).length - before, 1, 'one push for the whole burst');
  });

  it('withholds ServiceEntry until the snapshot is complete (WorkloadEntry, not served, is answered at once); readiness follows', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 2));
    const gw = track(await startGatewayInProcess(redis.url, w.prefix));
    const ready = async () => (await fetch(`http://127.0.0.1:${gw.httpPort}/readyz`)).status;
    assert.equal(await ready(), 503);
    const c = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    const seFirst = c.next(SE, 30_000);
    const others = TYPES.filter((t) => !/ServiceEntry$/.test(t));
    assert.ok(others.includes(WE));
    const answered = Promise.all(others.map((t) => c.next(t)));
    for (const t of TYPES) c.send({ typeUrl: t, nonce: String(Date.now()) });
    await answered; // the other types are answered at once (istiod's initial sync must not hang on them)
    const more = await w.commit(services('dubbo', 3)); // still incomplete: a later change does not release it either
    await waitFor(() => gw.follower.current?.version === more, { what: 'gateway at the incomplete version' });
    assert.equal(
      c.received.some((r) => /ServiceEntry$/.test(r.typeUrl)),
      false,
      'no ServiceEntry answer before complete',
    );
    assert.ok(
      c.received.filter((r) => r.typeUrl === WE).every((r) => r.resources.length === 0),
      'WorkloadEntry answered empty',
    );
    assert.equal(await ready(), 503);
    const done = await w.commit(new Map(), [], { complete: true });
    const se = await seFirst;
    assert.equal(se.versionInfo, String(done));
    assert.equal(se.resources.length, 3);
    assert.equal(await ready(), 200);
  });

  it('two replicas at the same version send identical bytes', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 50, 3), [], { complete: true });
    const v = await w.commit(services('other', 20, 1), ['ServiceEntry|dubbo/svc-7.dubbo']);
    const [a, b] = await Promise.all([
      startGatewayInProcess(redis.url, w.prefix),
      startGatewayInProcess(redis.url, w.prefix),
    ]);
    track(a);
    track(b);
    const [ra, rb] = await Promise.all(
      [a, b].map(async (gw) => {
        const c = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
        return (await subscribeAll(c, [SE]))[0]!;
      }),
    );
    assert.equal(ra!.versionInfo, String(v));
    assert.equal(rb!.versionInfo, String(v));
    assert.equal(ra!.resources.length, 69);
    assert.deepEqual(anyBytes(ra!), anyBytes(rb!));
  });

  it('answers DeltaAggregatedResources with UNIMPLEMENTED', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 1), [], { complete: true });
    const gw = track(await startGatewayInProcess(redis.url, w.prefix));
    const client = new grpc.Client(`127.0.0.1:${gw.grpcPort}`, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      const call = client.makeBidiStreamRequest(
        '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
        (x: Buffer) => x,
        (x: Buffer) => x,
      );
      call.on('error', (e: grpc.ServiceError) => resolve(e.code));
      call.on('data', () => undefined);
      call.write(Buffer.alloc(0));
    });
    client.close();
    assert.equal(code, grpc.status.UNIMPLEMENTED);
  });

  it('serves istiods by revision and namespace, as configured, and shows them in /debug/istiods', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(new Map([...services('a', 2), ...services('b', 3), ...services('c', 4)]), [], { complete: true });
    const gw = track(
      await startGatewayInProcess(redis.url, w.prefix, { namespaces: ['a'], revisions: { canary: ['b', 'c'] } }),
    );
    const names = (r: DecodedResponse) => r.resources.length;
    const stable = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    const canary = track(
      new XdsClient(`127.0.0.1:${gw.grpcPort}`, {
        id: 'canary-istiod',
        metadata: { ...NODE.metadata, ISTIO_REVISION: 'canary' },
      }).open(),
    );
    const [[s], [k]] = await Promise.all([subscribeAll(stable, [SE]), subscribeAll(canary, [SE])]);
    assert.equal(names(s!), 2);
    assert.equal(names(k!), 7);
    const ist = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/debug/istiods`)).json()) as {
      nodeId: string;
      revision: string;
      view: string;
      istioVersion: string;
    }[];
    assert.deepEqual(
      ist.map((i) => [i.nodeId, i.revision, i.view, i.istioVersion]).sort(),
      [
        ['canary-istiod', 'canary', 'b,c', '1.30.0'],
        [NODE.id, '', 'a', '1.30.0'],
      ].sort(),
    );
    // A change outside a view reaches only the istiods that see that namespace.
    stable.ack(s!);
    canary.ack(k!);
    const v = await w.commit(services('c', 5));
    const k2 = await waitFor(() => canary.received.find((r) => r.versionInfo === String(v)), { what: 'canary push' });
    assert.equal(names(k2), 8);
  });

  it('serves over TLS with a server certificate (and refuses plaintext there)', async () => {
    const certs = makeServerCerts(path.join(runDir, 'certs'));
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 2), [], { complete: true });
    const gw = track(
      await startGatewayInProcess(redis.url, w.prefix, {
        tls: { certFile: certs.serverCert, keyFile: certs.serverKey },
      }),
    );
    const tls = track(
      new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE, {
        credentials: grpc.credentials.createSsl(fs.readFileSync(certs.caCert)),
        channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
      }).open(),
    );
    const [r] = await subscribeAll(tls, [SE]);
    assert.equal(r!.resources.length, 2);
    const plain = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    await assert.rejects(subscribeAll(plain, [SE]), /UNAVAILABLE|14/);
  });

  it('reloads the full snapshot when its stream position was trimmed away', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 5), [], { complete: true });
    const gw = track(await startGatewayInProcess(redis.url, w.prefix));
    await gw.follower.stop(); // fall behind: stop following, move on, trim the stream past our position
    await w.commit(services('dubbo', 8));
    await w.redis.xtrim(w.keys.changes, 'MAXLEN', 0);
    const v = await w.commit(new Map(), ['ServiceEntry|dubbo/svc-0.dubbo']);
    await gw.follower.sync();
    assert.equal(gw.follower.current?.version, v);
    assert.equal(gw.follower.current?.kinds.ServiceEntry[0]?.names.length, 7);
  });

  it('ends streams with UNAVAILABLE on graceful shutdown, so istiod moves to another replica', async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 1), [], { complete: true });
    const gw = await startGatewayInProcess(redis.url, w.prefix);
    const c = track(new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE).open());
    await subscribeAll(c, [SE]);
    await gw.stop(2_000);
    await waitFor(() => c.closedWith, { what: 'stream ended by the shutdown', timeoutMs: 5_000 });
    assert.equal((c.closedWith as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
  });

  it('holds an idle stream open across keepalive pings (istiod pings every 30 s; here every 2 s)', {
    timeout: 90_000,
  }, async () => {
    const w = track(await SnapshotWriter.open(redis.url));
    await w.commit(services('dubbo', 1), [], { complete: true });
    const gw = track(await startGatewayInProcess(redis.url, w.prefix));
    const c = track(
      new XdsClient(`127.0.0.1:${gw.grpcPort}`, NODE, {
        channelOptions: {
          'grpc.keepalive_time_ms': 2_000,
          'grpc.keepalive_timeout_ms': 1_000,
          'grpc.keepalive_permit_without_calls': 1,
        },
      }).open(),
    );
    const [r] = await subscribeAll(c, [SE]);
    c.ack(r!);
    const holdMs = Number(process.env.MESHBRIDGE_KEEPALIVE_HOLD_MS ?? 40_000);
    const until = performance.now() + holdMs;
    // The idle period itself is the condition: the stream must still be open when it ends (~20 pings).
    await waitFor(() => c.closedWith ?? performance.now() >= until, {
      what: 'idle period',
      timeoutMs: holdMs + 5_000,
      intervalMs: 500,
    });
    assert.equal(c.closedWith, undefined, `stream closed while idle: ${c.closedWith?.message}`);
    const v = await w.commit(services('dubbo', 2));
    const pushed = await waitFor(() => c.received.find((x) => x.versionInfo === String(v)), {
      what: 'push after the idle period',
    });
    assert.equal(pushed.resources.length, 2);
  });
});
