import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { waitFor } from '../../harness/wait.ts';
import { metricSum } from '../../harness/prom-text.ts';
import type { CollectorReplicas } from '../support/collector-replicas.ts';
import { DubboHaRig } from '../support/dubbo-ha-rig.ts';
import { type IstiodWatch, registrationLoop } from '../support/istiod-watch.ts';

const BASE = 400;
/** 400 interfaces at 40 a second: each periodic re-read lasts ~10 s, as one over 50,000 at the default 500/s does ~100 s. */
const READS_PER_SECOND = 40;
const LEASE_MS = 5_000;

/**
 * A rolling update of the collector lands in the middle of a periodic re-read, which at 50,000 interfaces lasts
 * minutes. The stopping leader must give the pass up (without its end marker: only a complete pass may delete), exit
 * within seconds and release its lease, so the standby takes over at once — not when the lease runs out, or when
 * Kubernetes kills a process that was still reading. Registrations run throughout; istiod is polled ten times a second.
 */
describe('collector graceful stop during a paced periodic re-read (ZooKeeper, istiod)', () => {
  let rig: DubboHaRig;
  let replicas: CollectorReplicas;
  let watch: IstiodWatch;
  let registered: Set<string>;
  let stopRegistrations: (() => Promise<void>) | undefined;

  before(async () => {
    rig = await DubboHaRig.start('e2e-collector-graceful-stop', {
      base: Array.from({ length: BASE }, (_, i) => `com.stop.Base${i}`),
      baseIp: (i) => `10.50.${i >> 8}.${i & 0xff}`,
      source: (src) => {
        src.leaderElection = { leaseMs: LEASE_MS };
        src.resyncIntervalMs = 1_000;
        src.periodicResyncReadsPerSecond = READS_PER_SECOND;
      },
    });
    ({ replicas, watch, registered } = rig);
  });

  after(async () => {
    await stopRegistrations?.();
    await rig?.stop();
  });

  it('holds every registered service before anything stops', async () => {
    await watch.holdsAll('istiod holding the base services');
  });

  it('SIGTERM of the leader mid-pass: it exits in seconds without an end marker, the standby takes over at once', async () => {
    const leader = await replicas.leader();
    const keys = () => metricSum(leader.port, 'meshbridge_collector_resync_keys_total');
    const passes = () => metricSum(leader.port, 'meshbridge_collector_resyncs_total');
    // 60 interfaces into a pass that has just begun, so the signal lands mid-pass (a pass takes ~10 s): counting from
    // an arbitrary moment could land at the end of the pass before, which then completes.
    const passesBefore = await passes();
    await waitFor(async () => (await passes()) > passesBefore, {
      what: 'a periodic re-read ending',
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const atStart = await keys();
    await waitFor(async () => (await keys()) >= atStart + 60, {
      what: 'the next periodic re-read under way (60 interfaces into it)',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const reg = registrationLoop((n) => rig.register(`com.stop.Newx${n}`, `10.51.${n >> 8}.${n & 0xff}`), 50);
    // Stopped on every path: a loop left running after a failed assertion kept the test file's process alive.
    stopRegistrations = () => reg.stop();
    await waitFor(() => reg.count() >= 5, { what: 'registrations under way', timeoutMs: 5_000 });

    const t0 = performance.now();
    leader.proc.signal('SIGTERM');
    const code = await leader.proc.wait();
    const stopMs = performance.now() - t0;
    const next = await replicas.leader({ except: leader, timeoutMs: 30_000 });
    const takeoverMs = performance.now() - t0;

    const log = fs.readFileSync(leader.proc.logFile, 'utf8');
    const stoppedPass = log
      .split('\n')
      .filter((l) => l.includes('full resync stopped with its source'))
      .map((l) => JSON.parse(l) as { done: number; of: number });
    assert.equal(code, 0, 'exit code 0 (not the shutdown deadline)');
    assert.equal(stoppedPass.length, 1, 'the pass in flight was given up, and said so');
    assert.ok(
      stoppedPass[0]!.done < stoppedPass[0]!.of,
      `given up after ${stoppedPass[0]!.done} of ${stoppedPass[0]!.of}`,
    );
    assert.ok(stopMs < 4_000, `the leader took ${stopMs.toFixed(0)} ms to stop (the pass had seconds left)`);
    assert.ok(takeoverMs < LEASE_MS, `takeover ${takeoverMs.toFixed(0)} ms: the lease was released, not waited out`);

    const until = reg.count() + 40;
    await waitFor(() => reg.count() >= until, { what: 'registrations after the takeover', timeoutMs: 15_000 });
    await reg.stop();
    await watch.holdsAll(`istiod holding all ${registered.size} registered services`);
    await watch.morePolls(20);
    await watch.holdsAll('istiod still holding every registered service');
    assert.deepEqual(watch.violations, [], 'no window where a registered service istiod held was missing');
    assert.ok((await replicas.status(next))?.leading);
    console.log(
      `# SIGTERM mid-pass: stopped in ${stopMs.toFixed(0)} ms after ${stoppedPass[0]!.done} of ${stoppedPass[0]!.of} interfaces; standby leading and resynced ${takeoverMs.toFixed(0)} ms after the signal (lease ${LEASE_MS} ms); ${reg.count()} registered meanwhile, ${watch.polls} istiod polls, no violation`,
    );
  });
});
