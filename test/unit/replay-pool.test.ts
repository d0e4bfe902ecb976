import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import type { Cut } from '../../services/audit/cut-replay.ts';
import { MultiCutReplay } from '../../services/audit/multi-cut-replay.ts';
import { ReplayPool } from '../../services/audit/replay-pool.ts';
import { packBuffers, packMessages, unpackBuffers, unpackMessages } from '../../services/audit/replay-wire.ts';
import type { TopicMessage } from '../../services/audit/topic-reader.ts';

const ev = (i: number, svc: number, over: Partial<RegistryEvent> = {}): RegistryEvent => ({
  eventId: `e${i}`,
  kind: 'SERVICE_STATE',
  sourceId: 'zk1',
  sourceKind: 'zookeeper-dubbo',
  collectorId: 'c1',
  epoch: 1,
  generation: 'g',
  observedAt: 1_700_000_000_000 + i,
  namespace: 'dubbo',
  host: `svc${svc}.a`,
  registryService: `com.a.Svc${svc}`,
  orderToken: i,
  ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
  instances: Array.from({ length: 1 + (i % 4) }, (_, k) => ({
    address: `10.0.${svc}.${k + 1}`,
    ports: { 'tcp-dubbo': 20880 },
    labels: { version: `v${i % 3}` },
    weight: 0,
    locality: '',
  })),
  issues: [],
  resyncServices: [],
  raw: null,
  ...over,
});

/** Three partitions (360, 270, 270 messages): service n lives in partition n % 3; a few removals, one bad message. */
function topic(): Map<number, TopicMessage[]> {
  const out = new Map<number, TopicMessage[]>([
    [0, []],
    [1, []],
    [2, []],
  ]);
  for (let i = 0; i < 900; i++) {
    const svc = i % 10;
    const list = out.get(svc % 3)!;
    const value =
      i === 451
        ? Buffer.from('not avro at all')
        : encodeEvent(ev(i, svc, i % 37 === 0 ? { kind: 'SERVICE_REMOVED', instances: [] } : {}));
    list.push({ offset: BigInt(list.length), timestamp: 5000 + i, value });
  }
  return out;
}

describe('replay worker threads', () => {
  it('pack/unpack keeps offsets, timestamps, values and tombstones exactly', () => {
    const m: TopicMessage[] = [
      { offset: 7n, timestamp: 1.5e12, value: Buffer.from('abc') },
      { offset: 9n, timestamp: 2, value: null },
      { offset: 10n, timestamp: 3, value: Buffer.alloc(0) },
    ];
    assert.deepEqual(unpackMessages(packMessages(m).packed), m);
    const b = new Map([
      ['x', Buffer.from([1, 2])],
      ['y', Buffer.alloc(0)],
      ['z', Buffer.from('zz')],
    ]);
    assert.deepEqual(unpackBuffers(packBuffers(b).packed), b);
  });

  it('split over two workers, gives exactly the results and statistics of one in-process replay', async () => {
    const data = topic();
    const cuts: Cut[] = [
      {
        kind: 'offsets',
        offsets: new Map([
          [0, 100n],
          [1, 250n],
          [2, 0n],
        ]),
      },
      { kind: 'time', timeMs: 5600 },
      { kind: 'end' },
    ];
    const ends = new Map([...data].map(([p, list]) => [p, BigInt(list.length)]));
    const reference = new MultiCutReplay(cuts, [0, 1, 2]);
    for (const [p, list] of data) reference.feed(p, list);
    const want = reference.finish(ends);

    const pool = new ReplayPool(cuts, [0, 1, 2], 2);
    try {
      assert.equal(pool.workers, 2);
      // Interleave partitions in uneven chunks, as fetches do.
      for (let at = 0; at < 360; at += 70) for (const [p, list] of data) await pool.feed(p, list.slice(at, at + 70));
      const got = await pool.finish(ends);
      assert.deepEqual(
        got.results,
        want.results.map((r) => ({ ...r, offsets: new Map([...r.offsets].sort(([a], [b]) => a - b)) })),
      );
      assert.deepEqual(
        got.stats.map((s) => ({ ...s, foldMs: 0 })),
        want.stats.map((s) => ({ ...s, foldMs: 0 })),
      );
      assert.equal(got.stats[2]!.undecodable.length, 1, 'the bad message is reported, not folded');
      assert.ok(got.results[2]!.resources.size > 0);
    } finally {
      await pool.close();
    }
  });

  it('a worker that fails fails the replay with its error instead of hanging', async () => {
    const pool = new ReplayPool([{ kind: 'end' }], [0, 1], 2);
    try {
      await assert.rejects(pool.feed(5, []), /partition 5 was not announced/);
      // A message the worker cannot even unpack: it throws, and the pool reports it.
      (pool as unknown as { slots: { worker: { postMessage(m: unknown): void } }[] }).slots[0]!.worker.postMessage({
        type: 'feed',
        partition: 0,
        batch: null,
      });
      await assert.rejects(
        pool.finish(
          new Map([
            [0, 1n],
            [1, 1n],
          ]),
        ),
        /null|undefined/,
      );
    } finally {
      await pool.close();
    }
  });
});
