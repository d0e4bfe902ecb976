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
import { waitFor } from '../../harness/wait.ts';
import { serviceEntries } from '../support/istiod-view.ts';

const SERVICES = 400;
const ROUNDS = 120;
const host = (i: number) => `svc-${i}.dubbo`;
const entry = (i: number, seed: number) => serviceEntry({ namespace: 'dubbo', host: host(i), endpoints: 20, seed });

/** istiod's live heap: HeapAlloc right after the collection that `gc=1` forces (the runtime stats of pprof's text form). */
async function liveHeap(istiod: IstiodServer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${istiod.monitoringPort}/debug/pprof/heap?gc=1&debug=1`);
  const text = await res.text();
  const m = /^# HeapAlloc = (\d+)$/m.exec(text);
  if (!m) throw new Error(`no HeapAlloc in istiod's heap profile (HTTP ${res.status})`);
  return Number(m[1]);
}

const MiB = 1024 * 1024;

/**
 * istiod's config-source client copies each response it receives into a buffered channel (100) that nothing reads, so
 * the first 100 responses of every source stay in its heap for good. Two gateways serve one snapshot, one padding
 * each stream with empty MeshConfig answers (the default), one not; each feeds its own real istiod. After 120 pushes of
 * the whole ~0.5 MB collection, the unpadded istiod holds ~100 of them more than the padded one, and both hold exactly
 * the same services.
 */
describe("istiod's response buffer: padded with empty MeshConfig answers (real istiods)", () => {
  let redis: RedisServer;
  let writer: SnapshotWriter;
  let padded: RunningGateway;
  let unpadded: RunningGateway;
  let istiodPadded: IstiodServer;
  let istiodUnpadded: IstiodServer;
  const pushes = new Map<RunningGateway, PushEvent[]>();

  before(async () => {
    ensureInstalled(['redis', 'istiod']);
    redis = await startRedis(makeRunDir('istiod-buffer'));
    writer = await SnapshotWriter.open(redis.url);
    await writer.commit(new Map(Array.from({ length: SERVICES }, (_, i) => entry(i, i))), [], { complete: true });
    const start = async (padding: number) => {
      const log: PushEvent[] = [];
      const gw = await startGatewayInProcess(
        redis.url,
        writer.prefix,
        { shards: 1, debounceMs: 0, istiodBufferPadding: padding },
        { onPushed: (e) => log.push(e) },
      );
      pushes.set(gw, log);
      return gw;
    };
    padded = await start(100);
    unpadded = await start(0);
    const launch = (gw: RunningGateway, name: string) =>
      startIstiod(makeRunDir(name), `xds://127.0.0.1:${gw.grpcPorts[0]}`, { readyTimeoutMs: 120_000 });
    [istiodPadded, istiodUnpadded] = await Promise.all([
      launch(padded, 'istiod-buffer-padded'),
      launch(unpadded, 'istiod-buffer-unpadded'),
    ]);
  });

  after(async () => {
    await istiodPadded?.stop();
    await istiodUnpadded?.stop();
    await padded?.stop(1000);
    await unpadded?.stop(1000);
    await writer?.close();
    await redis?.stop();
  });

  /** The gateway serves version `v` or later and every istiod acknowledged what it serves. */
  const ackedAt = (gw: RunningGateway, v: number) =>
    (gw.follower.current?.version ?? 0) >= v && gw.ads.maxAckedLag() === 0;

  it('the padded istiod keeps none of the pushed collections; the unpadded one keeps ~100 of them', async () => {
    for (const istiod of [istiodPadded, istiodUnpadded]) {
      await waitFor(async () => (await serviceEntries(istiod.debug)).length === SERVICES, {
        what: `istiod holding ${SERVICES} ServiceEntries`,
        timeoutMs: 60_000,
      });
    }
    const base = [await liveHeap(istiodPadded), await liveHeap(istiodUnpadded)] as const;
    for (let round = 1; round <= ROUNDS; round++) {
      // Each round changes one service and waits until both istiods acknowledged it: one whole-collection push each.
      const v = await writer.commit(new Map([entry(round % SERVICES, 10_000 + round)]));
      await waitFor(() => ackedAt(padded, v) && ackedAt(unpadded, v), {
        what: `both istiods acknowledging version ${v}`,
        timeoutMs: 30_000,
        intervalMs: 5,
      });
    }
    const growth = [(await liveHeap(istiodPadded)) - base[0], (await liveHeap(istiodUnpadded)) - base[1]] as const;
    const pushed = pushes.get(unpadded)!.slice(0, 100);
    const first100 = pushed.reduce((a, p) => a + p.bytes, 0);
    const report = `heap growth padded ${(growth[0] / MiB).toFixed(1)} MiB, unpadded ${(growth[1] / MiB).toFixed(1)} MiB; first 100 responses ${(first100 / MiB).toFixed(1)} MiB`;
    process.stderr.write(`${report}\n`);
    assert.ok(pushes.get(padded)!.length >= ROUNDS, `the padded gateway pushed every round (${report})`);
    // The unpadded istiod holds the responses that went into its buffer (the initial one's grows with the rounds).
    assert.ok(growth[1] > 0.6 * first100, `the unpadded istiod keeps its first responses: ${report}`);
    assert.ok(growth[0] < 0.15 * first100, `the padded istiod keeps none of them: ${report}`);
  });

  it('padding changes nothing in istiod: both hold the same services, and no response was rejected', async () => {
    const [a, b] = await Promise.all([serviceEntries(istiodPadded.debug), serviceEntries(istiodUnpadded.debug)]);
    assert.equal(a.length, SERVICES);
    assert.deepEqual(
      JSON.stringify(a.map((s) => [s.metadata.name, s.spec]).sort()),
      JSON.stringify(b.map((s) => [s.metadata.name, s.spec]).sort()),
    );
    const metrics = await padded.registry.metrics();
    // istiod asks for ~16 types at once, so the padding follows their answers: 100 responses in all on the stream.
    const count = (type: string) =>
      Number(new RegExp(`meshbridge_gateway_pushes_total\\{type="${type}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    const answers = count('other') + 1; // the unserved types' answers, MeshConfig's included, and the first ServiceEntry
    assert.equal(count('padding'), 100 - answers, `padding completes the stream's first 100 responses:\n${metrics}`);
    assert.match(metrics, /meshbridge_gateway_nacks_total\{[^}]*\} 0\b/);
  });
});
