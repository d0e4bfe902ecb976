import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pipeline } from '../../harness/stack.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { waitFor } from '../../harness/wait.ts';
import type { DubboRegistrar } from '../support/dubbo-registry.ts';
import type { CollectorReplicas } from '../support/collector-replicas.ts';
import { DubboHaRig, dubboHost } from '../support/dubbo-ha-rig.ts';
import { type IstiodWatch, registrationLoop } from '../support/istiod-watch.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';
import { metricSum } from '../../harness/prom-text.ts';

const BASE = 300;

/**
 * Issue 10, case 0: a collector that takes over (kill -9 of the leader) re-reads the registry while services are being
 * registered. Before the fix its end marker listed only what its first listing saw, so services registered during the
 * re-read were published and then deleted — and stayed deleted. Here registrations run throughout each takeover,
 * istiod is polled ten times a second, and every registered service must be in istiod at the end and must never go
 * missing once istiod held it.
 */
describe('collector failover while services are being registered: a re-read never deletes a live service (ZooKeeper, istiod)', () => {
  let rig: DubboHaRig;
  let mb: Pipeline;
  let dubbo: DubboRegistrar;
  let replicas: CollectorReplicas;
  let watch: IstiodWatch;
  let tail: EventTail;
  let registered: Set<string>;

  before(async () => {
    rig = await DubboHaRig.start('e2e-collector-resync-race', {
      base: Array.from({ length: BASE }, (_, i) => `com.race.Base${i}`),
      baseIp: (i) => `10.30.${i >> 8}.${i & 0xff}`,
      // A periodic full re-read every second as well: each one is another chance for the race.
      source: (src) => {
        src.leaderElection = { leaseMs: 2000 };
        src.resyncIntervalMs = 1000;
      },
    });
    ({ mb, dubbo, replicas, watch, registered } = rig);
    tail = await EventTail.open(rig.servers.kafka.brokers, mb.config.kafka.topic);
  });

  after(async () => {
    await tail?.close();
    await rig?.stop();
  });

  const istiodHoldsAll = (what: string) => watch.holdsAll(what);

  it('holds every registered service before anything breaks', async () => {
    await istiodHoldsAll('istiod holding the base services');
  });

  const registrations = (prefix: string, everyMs: number) =>
    registrationLoop((n) => rig.register(`com.race.${prefix}x${n}`, `10.40.${n >> 8}.${n & 0xff}`), everyMs);

  it('periodic re-reads (every second) while a service is registered every 25 ms and existing ones gain providers', async () => {
    const leader = await replicas.leader();
    const unchanged = () => metricSum(leader.port, 'meshbridge_collector_resync_keys_total', { how: 'unchanged' });
    const unchangedBefore = await unchanged();
    const reg = registrations('P', 25);
    // Existing services change too: a periodic re-read finds most interfaces unchanged by their providers node's
    // version and skips reading them, so a provider added meanwhile must still arrive (its watch), never be lost.
    const grown = registrationLoop(async (n) => {
      await dubbo.register(`com.race.Base${n % BASE}`, `10.31.${n >> 8}.${n & 0xff}`, 20881);
    }, 40);
    await waitFor(() => reg.count() >= 240, { what: '240 registrations (about 6 s, 6 re-reads)', timeoutMs: 30_000 });
    await Promise.all([reg.stop(), grown.stop()]);
    assert.ok(grown.count() > 20, `${grown.count()} providers added to existing services`);
    const skipped = (await unchanged()) - unchangedBefore;
    assert.ok(
      skipped > BASE,
      `periodic re-reads found ${skipped} interfaces unchanged (stat only), expected > ${BASE}`,
    );
    console.log(
      `# periodic re-reads: ${skipped} interfaces found unchanged (stat only); ${grown.count()} providers added`,
    );
    await waitFor(
      () => {
        const eps = tail.endpoints('zk1');
        return Array.from({ length: grown.count() }, (_, n) => n).every((n) =>
          (eps[dubboHost(`com.race.Base${n % BASE}`)] ?? []).includes(`10.31.${n >> 8}.${n & 0xff}:20881`),
        );
      },
      { what: 'every added provider in the published state', timeoutMs: 30_000 },
    );
    await istiodHoldsAll(`istiod holding all ${registered.size} registered services`);
    await watch.morePolls(20);
    await istiodHoldsAll('istiod still holding every registered service after the next re-reads');
    assert.deepEqual(watch.violations, [], 'no window where a registered service istiod held was missing');
  });

  for (const round of [1, 2]) {
    it(`round ${round}: kill -9 of the leader while registrations run through the standby's takeover`, async () => {
      const old = await replicas.leader();
      const oldEpoch = (await replicas.status(old))!.epoch!;
      // Registrations every ~50 ms from before the kill until well after the new leader's re-read has ended.
      const reg = registrations(`R${round}`, 50);
      await waitFor(() => reg.count() >= 3, { what: 'registrations under way', timeoutMs: 5000 });
      await old.proc.kill();
      const next = await replicas.leader({ except: old, timeoutMs: 30_000 });
      const newEpoch = (await replicas.status(next))!.epoch!;
      assert.ok(newEpoch > oldEpoch);
      // Keep registering for 2 s after the takeover completed (its marker is written right at the end of the re-read).
      const until = reg.count() + 40;
      await waitFor(() => reg.count() >= until, { what: 'registrations after the takeover', timeoutMs: 10_000 });
      await reg.stop();
      await istiodHoldsAll(`istiod holding all ${registered.size} registered services after round ${round}`);
      // The snapshot stays right after the new leader's marker: no late deletion.
      await watch.morePolls(20);
      await istiodHoldsAll('istiod still holding every registered service');
      assert.deepEqual(watch.violations, [], 'no window where a registered service istiod held was missing');
      // No registered service was ever removed by a marker (the projector's own fold of the topic says so).
      const removedByMarker = [...registered].filter((h) => !(h in tail.endpoints('zk1')));
      assert.deepEqual(removedByMarker, []);
      console.log(
        `# round ${round}: ${reg.count()} services registered through the takeover (epoch ${oldEpoch} -> ${newEpoch}); ${watch.polls} istiod polls, no violation`,
      );
      // A fresh standby for the next round.
      if (round === 1) await replicas.start(`a${round}`);
    });
  }

  it('verify --registry finds the live snapshot equal to what ZooKeeper holds', async () => {
    const r = await meshbridge(mb.configFile, ['verify', '--registry', '--json']);
    assert.equal(r.code, 0, `verify --registry exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).equal, true);
  });
});
