import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { zooKeeperSnapshots } from '../../bench/e2e-registries.ts';
import { machinePace } from '../../bench/cpu-calibration.ts';
import { istiodGcCycles, splitByIstiodGc } from '../../bench/istiod-gc.ts';

describe('bench:e2e reads the registry server its tail is measured beside', () => {
  const log = [
    '2026-11-29 20:23:48,777 INFO  FileTxnSnapLog - Snapshotting: 0x81132 to /data/version-2/snapshot.81132',
    '2026-11-29 20:23:50,513 INFO  ZooKeeperServer - Snapshot taken in 1736 ms',
    '2026-11-29 20:25:45,880 INFO  FileTxnSnapLog - Snapshotting: 0x931c4 to /data/version-2/snapshot.931c4',
    '2026-11-29 20:25:47,666 INFO  ZooKeeperServer - Snapshot taken in 1786 ms',
  ].join('\n');
  const at = (t: string) => new Date(`2026-11-29T${t}`).getTime();

  it('given ZooKeeper snapshots, lists those overlapping the churn, seconds into it and how long', () => {
    assert.deepEqual(zooKeeperSnapshots(log, at('20:25:35'), at('20:26:35')), [
      { what: 'ZooKeeper snapshot', atS: 10.9, ms: 1786 },
    ]);
  });

  it('counts a snapshot that started before the window and ended inside it', () => {
    assert.equal(zooKeeperSnapshots(log, at('20:23:50'), at('20:24:00')).length, 1);
  });

  it('lists nothing for a window without snapshots', () => {
    assert.deepEqual(zooKeeperSnapshots(log, at('20:30:00'), at('20:31:00')), []);
  });
});

describe('bench:e2e reads istiod garbage collections from its gctrace', () => {
  const log = [
    '2026/11/29 23:44:44 INFO memory is not limited, skipping package=github.com/KimMachineGun/automemlimit/memlimit',
    'gc 1 @0.037s 1%: 0.49+2.3+0.007 ms clock, 0.98+0.53/0.18/0.33+0.014 ms cpu, 3->4->2 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P',
    '2026-11-29T23:48:11.778374Z\tinfo\tmodel\tFull push, new service dubbo/org.bench.service35957',
    'gc 34 @215.577s 15%: 0.17+14459+2.2 ms clock, 0.34+5390/7229/513+4.5 ms cpu, 7159->8632->4584 MB, 8414 MB goal, 40 MB stacks, 0 MB globals, 2 P',
    'gc 35 @253.100s 15%: 0.2+12300+1.9 ms clock, 0.4+2200/6200/3200+3.8 ms cpu, 7836->9219->4804 MB, 9168 MB goal, 40 MB stacks, 0 MB globals, 2 P',
  ].join('\n');
  const started = 1_000_000;

  it('given cycles before and inside the churn, lists those whose mark overlaps it, seconds into it', () => {
    // Churn from 220 s to 280 s after the start: cycle 34 (215.6 s + 14.5 s of mark) overlaps, as does 35.
    assert.deepEqual(istiodGcCycles(log, started, started + 220_000, started + 280_000), [
      { what: 'istiod GC', atS: -4.4, ms: 14459, assistCpuMs: 5390, heapMB: [7159, 8632, 4584] },
      { what: 'istiod GC', atS: 33.1, ms: 12300, assistCpuMs: 2200, heapMB: [7836, 9219, 4804] },
    ]);
  });

  it('lists nothing when the log has no gctrace lines in the window', () => {
    assert.deepEqual(istiodGcCycles(log, started, started + 300_000, started + 360_000), []);
  });

  it('splits changes by whether their first 250 ms met a collection, whatever their own latency', () => {
    // One collection 10.0 s into the churn, marking for 2 s (widened to 9.9-12.1 s for atS's rounding).
    const cycles = [
      { what: 'istiod GC', atS: 10, ms: 2000, assistCpuMs: 0, heapMB: [1, 2, 1] as [number, number, number] },
    ];
    const churn = 5_000_000;
    const at = (s: number, latency = 50) => ({ issuedAt: churn + s * 1000, latency });
    const changes = [at(1), at(9.6), at(9.7), at(11), at(12.1), at(12.2, 900), at(30)];
    const { clear, duringGc } = splitByIstiodGc(changes, cycles, churn, 250);
    assert.deepEqual(
      duringGc.map((c) => c.issuedAt - churn),
      [9_700, 11_000, 12_100],
    );
    // 9.6 s ends its 250 ms window at 9.85 s, before the widened cycle; 12.2 s is after it, slow as it was.
    assert.deepEqual(
      clear.map((c) => c.issuedAt - churn),
      [1_000, 9_600, 12_200, 30_000],
    );
  });

  it('counts every change clear when istiod did not collect', () => {
    assert.equal(splitByIstiodGc([{ issuedAt: 1 }, { issuedAt: 2 }], [], 0, 250).clear.length, 2);
  });
});

describe('bench:e2e judges the machine by its calibration before it starts', () => {
  const xeon = 'Intel(R) Xeon(R) Processor';

  it('given the figures of a run that met the target on its CPU model, calls the machine fast', () => {
    assert.deepEqual(machinePace({ hashMs: 11.8, memoryMs: 141.1, rounds: 9 }, xeon), { pace: 'fast', over: [] });
  });

  it('given a slow memory chase alone, calls it slow and names the figure', () => {
    assert.deepEqual(machinePace({ hashMs: 11.5, memoryMs: 164, rounds: 9 }, xeon), {
      pace: 'slow',
      over: ['random reads 164 ms > 141.5'],
    });
  });

  it('given the figures of a run that missed the target by seconds (session 19), calls the machine slow', () => {
    assert.deepEqual(machinePace({ hashMs: 11.9, memoryMs: 143.8, rounds: 9 }, xeon), {
      pace: 'slow',
      over: ['sha-256 11.9 ms > 11.8', 'random reads 143.8 ms > 141.5'],
    });
  });

  it('names every figure over its limit', () => {
    assert.equal(machinePace({ hashMs: 19.8, memoryMs: 183.6, rounds: 9 }, xeon).over.length, 2);
  });

  it('does not judge a CPU model it has no limits for (figures are not comparable across models)', () => {
    assert.deepEqual(machinePace({ hashMs: 9.3, memoryMs: 152.7, rounds: 9 }, 'AMD Opteron'), {
      pace: 'unknown',
      over: [],
    });
    assert.equal(machinePace({ hashMs: 9.3, memoryMs: 152.7, rounds: 9 }, undefined).pace, 'unknown');
  });

  it('judges the AMD EPYC by its own limits, from the runs that met the target and those that did not', () => {
    // Session 17's slowest run that met the target, and session 22's runs that did not.
    assert.equal(machinePace({ hashMs: 9.4, memoryMs: 170.8, rounds: 9 }, 'AMD EPYC').pace, 'fast');
    assert.deepEqual(machinePace({ hashMs: 9.4, memoryMs: 189.2, rounds: 9 }, 'AMD EPYC'), {
      pace: 'slow',
      over: ['random reads 189.2 ms > 171'],
    });
    // A hash 0.2 ms over the EPYC's usual 9.3–9.4 ms is over its limit, though far under the Xeon's.
    assert.equal(machinePace({ hashMs: 9.6, memoryMs: 150, rounds: 9 }, 'AMD EPYC').pace, 'slow');
  });

  it('takes the limits as data, per model', () => {
    const limits = { 'AMD EPYC': { hashMs: 25, memoryMs: 250 } };
    assert.equal(machinePace({ hashMs: 20, memoryMs: 200, rounds: 9 }, 'AMD EPYC', limits).pace, 'fast');
  });
});
