import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { startIstiod, type IstiodServer } from '../../harness/istiod.ts';
import { SnapshotWriter, serviceEntry } from '../../harness/snapshot-writer.ts';
import { spawnGateway, type GatewayProcess } from '../../harness/gateway-fleet.ts';
import { freePort } from '../../harness/ports.ts';
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const HOSTS = ['orders.dubbo', 'payments.dubbo'];
const SE = 'networking.istio.io/v1/ServiceEntry';

interface Connected {
  streamId: string;
  nodeId: string;
  types: Record<string, { lastVersion?: string; acked?: string }>;
}
const connectedTo = async (gw: GatewayProcess) =>
  (await (await fetch(`http://127.0.0.1:${gw.httpPort}/debug/istiods`)).json()) as Connected[];

/**
 * What protects istiod at its own start (docs/operations.md, "istiod not ready on its config source"), against a real
 * istiod (1.30 line):
 *  - with no gateway listening, istiod exits at once (its xds:// config source must accept a connection at start);
 *  - a gateway that is up but has no snapshot yet (Redis down) accepts the connection, answers every other type and
 *    withholds ServiceEntry, so istiod stays up and not ready — and becomes ready holding the
 *    ServiceEntries as soon as Redis is there and the snapshot complete, with no restart of istiod or the gateway.
 * Before issue 13 the gateway itself exited without Redis, so the second case was a crash loop of both.
 */
describe('istiod started while the gateways cannot serve (real istiod, real gateway process)', () => {
  let runDir: string;
  let redis: RedisServer | undefined;
  let writer: SnapshotWriter | undefined;
  let gw: GatewayProcess | undefined;
  let istiod: IstiodServer | undefined;

  before(() => {
    ensureInstalled(['redis', 'istiod']);
    runDir = makeRunDir('istiod-start-protection');
  });
  after(async () => {
    await istiod?.stop();
    await gw?.proc.stop();
    writer?.close();
    await redis?.stop();
  });

  it('no gateway listening: istiod exits at start (it does not wait for its config source)', async () => {
    const nobody = await freePort();
    const started = performance.now();
    await assert.rejects(startIstiod(runDir, `xds://127.0.0.1:${nobody}`, { readyTimeoutMs: 60_000 }), (e: Error) => {
      assert.match(e.message, /istiod exited/);
      assert.match(e.message, /connection refused/, 'istiod says its config source refused the connection');
      return true;
    });
    assert.ok(performance.now() - started < 30_000, 'it exits quickly, it does not wait');
  });

  it('gateway up without Redis: istiod connects and waits (alive, not ready), then becomes ready with the ServiceEntries when Redis comes', async () => {
    const redisPort = await freePort();
    const prefix = `isp-${Date.now().toString(36)}`;
    // The gateway starts while nothing listens on its Redis address: it must stay up and accept istiod.
    gw = await spawnGateway(runDir, `redis://127.0.0.1:${redisPort}`, prefix, { name: 'gateway-without-redis' });
    const notReady = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/readyz`)).json()) as {
      ok: boolean;
      detail: { missing: { name: string; address: string }[] };
    };
    assert.equal(notReady.ok, false);
    assert.deepEqual(
      notReady.detail.missing.map((m) => [m.name, m.address]),
      [['redis', `127.0.0.1:${redisPort}`]],
    );

    const starting = startIstiod(runDir, `xds://127.0.0.1:${gw.grpcPort}`, { readyTimeoutMs: 180_000 });
    starting.catch(() => undefined); // awaited below
    // istiod's stream is open and every type but the served kinds is answered; ServiceEntry is withheld.
    const stream = await waitFor(
      async () => {
        const s = (await connectedTo(gw!)).find((c) => /istiod/.test(c.nodeId));
        return s && Object.keys(s.types).length > 2 ? s : undefined;
      },
      { what: 'istiod connected to the gateway', timeoutMs: 60_000 },
    );
    assert.equal(stream.types[SE]?.lastVersion, undefined, 'ServiceEntry withheld: no snapshot yet');
    // It stays connected, on the same stream, while the gateway keeps failing to reach Redis (several attempts).
    await waitFor(
      async () => {
        const r = (await (await fetch(`http://127.0.0.1:${gw!.httpPort}/readyz`)).json()) as {
          detail: { missing: { attempts: number }[] };
        };
        return (r.detail.missing[0]?.attempts ?? 0) >= 6;
      },
      { what: 'the gateway retried Redis a few times', timeoutMs: 60_000 },
    );
    const still = (await connectedTo(gw)).find((c) => c.streamId === stream.streamId);
    assert.ok(still, 'istiod is still connected on the same stream: it did not exit');
    assert.equal(still.types[SE]?.lastVersion, undefined);

    redis = await startRedis(runDir, { port: redisPort, name: 'redis-late' });
    writer = await SnapshotWriter.open(redis.url, prefix);
    await writer.commit(
      new Map(HOSTS.map((h, i) => serviceEntry({ namespace: 'dubbo', host: h, endpoints: 2, seed: i }))),
      [],
      { complete: true },
    );

    istiod = await starting; // resolves when istiod's own xDS port opens: it became ready
    await waitFor(
      async () => {
        const have = new Set((await serviceEntries(istiod!.debug)).flatMap((c) => c.spec.hosts ?? []));
        return HOSTS.every((h) => have.has(h));
      },
      { what: 'istiod holds the ServiceEntries', timeoutMs: 30_000 },
    );
    const s = (await connectedTo(gw)).find((c) => c.streamId === stream.streamId);
    assert.ok(s?.types[SE]?.acked, 'istiod ACKed the ServiceEntries on the stream it opened while Redis was down');
    assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/readyz`)).status, 200);
    assert.ok(gw.proc.running);
  });
});
