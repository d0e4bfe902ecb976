import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { startIstiod, type IstiodServer } from '../../harness/istiod.ts';
import { SnapshotWriter, serviceEntry } from '../../harness/snapshot-writer.ts';
import { startGatewayInProcess } from '../../harness/gateway-fleet.ts';
import type { RunningGateway } from '../../services/xds-gateway/gateway.ts';
import type { PushEvent } from '../../services/xds-gateway/ads-observer.ts';
import { shardOf } from '../../services/xds-gateway/shard.ts';
import { proxyView } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const SHARDS = 4;
const HOSTS = Array.from({ length: 40 }, (_, i) => `svc-${i}.dubbo`);

/**
 * A sharded gateway against a real istiod: one config source per shard, istiod holds the union, a sidecar gets every
 * service, and a change is pushed only on the stream of the shard that holds it — istiod re-reads 1/SHARDS of the mesh.
 */
describe(`gateway shards: ${SHARDS} config sources for one snapshot (real istiod)`, () => {
  let redis: RedisServer;
  let writer: SnapshotWriter;
  let gw: RunningGateway;
  let istiod: IstiodServer;
  const pushes: PushEvent[] = [];

  before(async () => {
    ensureInstalled(['redis', 'istiod']);
    const runDir = makeRunDir('gateway-shards');
    redis = await startRedis(runDir);
    writer = await SnapshotWriter.open(redis.url);
    await writer.commit(
      new Map(HOSTS.map((h, i) => serviceEntry({ namespace: 'dubbo', host: h, endpoints: 2, seed: i }))),
      [],
      { complete: true },
    );
    gw = await startGatewayInProcess(redis.url, writer.prefix, { shards: SHARDS }, { onPushed: (e) => pushes.push(e) });
    istiod = await startIstiod(
      runDir,
      gw.grpcPorts.map((p) => `xds://127.0.0.1:${p}`),
      { readyTimeoutMs: 120_000 },
    );
  });

  after(async () => {
    await istiod?.stop();
    await gw?.stop(1000);
    await writer?.close();
    await redis?.stop();
  });

  it('istiod connects once per shard and holds every service; a sidecar gets each one', async () => {
    assert.equal(gw.grpcPorts.length, SHARDS);
    await waitFor(async () => (await serviceEntries(istiod.debug)).length === HOSTS.length, {
      what: `istiod holding ${HOSTS.length} ServiceEntries`,
      timeoutMs: 60_000,
    });
    const shardsConnected = new Set(gw.ads.connected().map((s) => s.shard));
    assert.deepEqual([...shardsConnected].sort(), [0, 1, 2, 3]);
    const view = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c.endsWith('.dubbo'));
    assert.equal(Object.keys(view.endpoints).length, HOSTS.length);
    // Every shard got a part of the mesh: the hash spreads 40 names over 4 shards.
    const perShard = gw.follower.current!.kinds.ServiceEntry.map((l) => l.names.length);
    assert.equal(
      perShard.reduce((a, b) => a + b, 0),
      HOSTS.length,
    );
    assert.ok(
      perShard.every((n) => n > 0),
      `every shard holds some: ${perShard}`,
    );
  });

  it('a change is pushed on its shard only, and reaches the sidecar', async () => {
    const host = HOSTS[7]!;
    const shard = shardOf(`dubbo/${host}`, SHARDS);
    const streamsOf = new Map(gw.ads.connected().map((s) => [s.streamId, s.shard]));
    await waitFor(() => gw.ads.connected().every((s) => Object.values(s.types).every((t) => !t.awaitingAck)), {
      what: 'every push acknowledged',
    });
    const before = pushes.length;
    const v = await writer.commit(new Map([serviceEntry({ namespace: 'dubbo', host, endpoints: 3, seed: 7 })]));
    await waitFor(
      async () => {
        const view = await proxyView(`127.0.0.1:${istiod.grpcPort}`, (c) => c.endsWith(`||${host}`));
        return Object.values(view.endpoints)[0]?.length === 3;
      },
      { what: `the sidecar seeing ${host} with 3 endpoints`, timeoutMs: 30_000 },
    );
    const after = pushes.slice(before).filter((p) => Number(p.version) >= v);
    assert.ok(after.length >= 1, 'pushed');
    assert.deepEqual(
      [...new Set(after.map((p) => streamsOf.get(p.streamId)))],
      [shard],
      `only shard ${shard}'s stream is pushed`,
    );
  });
});
