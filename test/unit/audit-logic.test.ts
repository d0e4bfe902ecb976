import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent, encodeEventAs } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { Replay } from '../../projection/replay.ts';
import { CutReplay } from '../../services/audit/cut-replay.ts';
import { parsePoint, PointError } from '../../services/audit/points.ts';
import type { ChangeRecord } from '../../snapshot-store/change-record.ts';
import { versionForCut, offsetsForVersion } from '../../services/audit/version-map.ts';
import { diffSnapshots, resourceName } from '../../services/audit/instance-diff.ts';
import { formatHistory } from '../../services/audit/format-text.ts';
import { compareSnapshots } from '../../services/audit/verify.ts';
import { toKubeList } from '../../services/audit/render-yaml.ts';
import { HistoryTracker } from '../../services/audit/history.ts';
import type { TopicMessage } from '../../services/audit/topic-reader.ts';

let n = 0;
const ev = (over: Partial<RegistryEvent>): RegistryEvent => ({
  eventId: `e${++n}`,
  kind: 'SERVICE_STATE',
  sourceId: 'zk1',
  sourceKind: 'zookeeper-dubbo',
  collectorId: 'c1',
  epoch: 10,
  generation: 'g',
  observedAt: 1_700_000_000_000,
  namespace: 'dubbo',
  host: 'svc.a',
  registryService: 'com.a.Svc',
  orderToken: 1,
  ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
  instances: [],
  issues: [],
  resyncServices: [],
  raw: null,
  ...over,
});
const inst = (address: string, version = '1') => ({
  address,
  ports: { 'tcp-dubbo': 20880 },
  labels: { version },
  weight: 0,
  locality: '',
});
const msgs = (events: RegistryEvent[], t0 = 1000, schema?: string): TopicMessage[] =>
  events.map((e, i) => ({
    offset: BigInt(i),
    timestamp: t0 + i * 10,
    value: schema ? encodeEventAs(schema, e) : encodeEvent(e),
  }));

describe('audit: points', () => {
  it('reads times, offsets, versions and now; refuses ambiguity', () => {
    assert.deepEqual(parsePoint('2025-06-01T12:00:00Z'), {
      kind: 'time',
      timeMs: Date.parse('2025-06-01T12:00:00Z'),
      text: '2025-06-01T12:00:00Z',
    });
    assert.deepEqual(
      (parsePoint('0:12,1:40') as { offsets: Map<number, bigint> }).offsets,
      new Map([
        [0, 12n],
        [1, 40n],
      ]),
    );
    assert.equal((parsePoint('v42') as { version: number }).version, 42);
    assert.equal(parsePoint('now').kind, 'end');
    assert.throws(() => parsePoint('2025-06-01T12:00:00'), PointError); // no time zone
    assert.throws(() => parsePoint('1234'), PointError);
  });
});

describe('audit: cut replay', () => {
  const events = [
    ev({ instances: [inst('10.0.0.1')], orderToken: 1 }),
    ev({ instances: [inst('10.0.0.1'), inst('10.0.0.2')], orderToken: 2 }),
    ev({ kind: 'SERVICE_REMOVED', instances: [], orderToken: 3 }),
  ];
  it('equals the reference Replay at every cut, by offset and by time, in one pass', () => {
    const cr = new CutReplay(
      [{ kind: 'offsets', offsets: new Map([[0, 1n]]) }, { kind: 'time', timeMs: 1015 }, { kind: 'end' }],
      [0],
    );
    assert.equal(cr.feed(0, msgs(events)), 'more');
    const [a, b, c] = cr.finish(new Map([[0, 3n]]));
    for (const [cut, res] of [
      [1, a!],
      [2, b!],
      [3, c!],
    ] as const) {
      const ref = new Replay();
      ref.apply(0, events.slice(0, cut));
      assert.deepEqual([...res.resources], [...ref.resources], `cut after ${cut} events`);
      assert.equal(res.offsets.get(0), BigInt(cut));
    }
    assert.equal(b!.firstExcludedTimeMs, 1020);
    assert.equal(c!.resources.size, 0);
  });
  it('counts events by writer schema and skips undecodable ones like the projector', () => {
    const cr = new CutReplay([{ kind: 'end' }], [0]);
    const m = msgs(events.slice(0, 1), 0, 'registry-event.v1.avsc');
    cr.feed(0, [...m, { offset: 1n, timestamp: 5, value: Buffer.from('garbage!!!!') }]);
    cr.finish(new Map([[0, 2n]]));
    assert.deepEqual(cr.stats.bySchema, { 'registry-event.v1.avsc': 1 });
    assert.equal(cr.stats.undecodable.length, 1);
  });
});

describe('audit: versions', () => {
  const rec = (version: number, partition: number, from: bigint, to: bigint): ChangeRecord => ({
    id: `${version}-0`,
    version,
    timeMs: version,
    complete: false,
    partition,
    from,
    to,
  });
  const records = [rec(1, 0, 0n, 5n), rec(2, 1, 0n, 3n), rec(3, 0, 5n, 9n)];
  it('names the version whose offset windows contain every partition cut', () => {
    assert.equal(
      versionForCut(
        records,
        {
          offsets: new Map([
            [0, 5n],
            [1, 3n],
          ]),
        },
        undefined,
      ).version,
      2,
    );
    assert.equal(
      versionForCut(
        records,
        {
          offsets: new Map([
            [0, 5n],
            [1, 0n],
          ]),
        },
        undefined,
      ).version,
      1,
    );
    assert.equal(
      versionForCut(
        records,
        {
          offsets: new Map([
            [0, 0n],
            [1, 0n],
          ]),
        },
        undefined,
      ).version,
      0,
    );
    assert.equal(
      versionForCut(
        records,
        {
          offsets: new Map([
            [0, 7n],
            [1, 3n],
          ]),
        },
        undefined,
      ).version,
      null,
    ); // inside a batch
    assert.equal(
      versionForCut(
        records,
        {
          offsets: new Map([
            [0, 9n],
            [1, 0n],
          ]),
        },
        undefined,
      ).version,
      null,
    ); // never held live
    assert.deepEqual(
      offsetsForVersion(
        records,
        2,
        new Map([
          [0, 9n],
          [1, 3n],
        ]),
      ),
      new Map([
        [0, 5n],
        [1, 3n],
      ]),
    );
  });
  it('falls back to commit times when records carry no offsets', () => {
    const plain: ChangeRecord[] = [
      { id: '100-0', version: 1, timeMs: 100, complete: false },
      { id: '200-0', version: 2, timeMs: 200, complete: true },
    ];
    assert.equal(versionForCut(plain, { offsets: new Map([[0, 4n]]), firstExcludedTimeMs: 150 }, undefined).version, 1);
    assert.equal(versionForCut(plain, { offsets: new Map([[0, 4n]]), firstExcludedTimeMs: 50 }, undefined).version, 0);
    assert.equal(
      versionForCut(plain, { offsets: new Map([[0, 9n]]) }, { version: 2, offsets: new Map([[0, 9n]]) }).version,
      2,
    );
  });
});

describe('audit: diff, verify, YAML, history', () => {
  const snap = (events: RegistryEvent[]) => {
    const r = new Replay();
    r.apply(0, events);
    return new Map(r.resources);
  };
  const a = snap([ev({ instances: [inst('10.0.0.1'), inst('10.0.0.2')] })]);
  const b = snap([
    ev({ instances: [inst('10.0.0.1', '2'), inst('10.0.0.3')] }),
    ev({ host: 'svc.b', registryService: 'com.b.Svc', instances: [inst('10.0.1.1')] }),
  ]);

  it('diffs snapshots at instance level', () => {
    const d = diffSnapshots(a, b);
    assert.deepEqual(
      d.map((c) => [c.resource, c.kind]),
      [
        ['ServiceEntry|dubbo/svc.a', 'changed'],
        ['ServiceEntry|dubbo/svc.b', 'created'],
      ],
    );
    assert.deepEqual(
      d[0]!.added.map((e) => e.address),
      ['10.0.0.3'],
    );
    assert.deepEqual(
      d[0]!.removed.map((e) => e.address),
      ['10.0.0.2'],
    );
    assert.deepEqual(d[0]!.changed, [
      { endpoint: '10.0.0.1 tcp-dubbo=20880', changes: { 'label version': ['1', '2'] } },
    ]);
  });

  it('verify names the first differing resource and what differs', () => {
    assert.equal(compareSnapshots(a, new Map(a)).equal, true);
    const out = compareSnapshots(a, b);
    assert.equal(out.equal, false);
    assert.equal(out.differences, 2);
    assert.equal(out.first!.resource, 'ServiceEntry|dubbo/svc.a');
    assert.equal(out.first!.what, 'bytes-differ');
  });

  it('renders kubectl-shaped objects', () => {
    const [item] = toKubeList(a).items;
    assert.equal(item!.apiVersion, 'networking.istio.io/v1');
    assert.equal(item!.metadata.namespace, 'dubbo');
    assert.equal(item!.metadata.name, 'svc.a');
    assert.equal(item!.spec.resolution, 'STATIC');
    assert.equal((item!.spec.endpoints as unknown[]).length, 2);
  });

  it('history shows every ServiceEntry of a host split by port that an event changed', () => {
    const TWO = [
      { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
      { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
    ];
    const both = (address: string) => ({ ...inst(address), ports: { 'tcp-dubbo': 20880, 'tcp-tri': 50051 } });
    const t = new HistoryTracker('com.a.Svc');
    t.feed(
      0,
      msgs([
        ev({ ports: TWO, instances: [both('10.0.0.1'), both('10.0.0.2')], orderToken: 1 }),
        ev({ ports: TWO, instances: [both('10.0.0.1'), inst('10.0.0.2')], orderToken: 2 }),
        ev({ ports: TWO, instances: [both('10.0.0.1'), both('10.0.0.2')], orderToken: 3 }),
      ]),
    );
    const [, split, back] = t.records;
    // Whole -> split: the whole entry goes, the split ones come.
    assert.deepEqual(
      split!.changes!.map((c) => [resourceName(c.resource), c.kind]),
      [
        ['dubbo/svc.a', 'removed'],
        ['dubbo/svc.a~*', 'created'],
        ['dubbo/svc.a~tcp-dubbo', 'created'],
        ['dubbo/svc.a~tcp-tri', 'created'],
      ],
    );
    // Split stays split: 10.0.0.2 gains triple, in the triple entry only.
    assert.equal(back!.changes, undefined, 'one entry changed');
    assert.equal(resourceName(back!.change!.resource), 'dubbo/svc.a~tcp-tri');
    assert.deepEqual(
      back!.change!.added.map((e) => e.address),
      ['10.0.0.2'],
    );
    assert.match(formatHistory('com.a.Svc', [...t.keys], t.records), /created dubbo\/svc\.a~tcp-tri:/);
  });

  it('history explains ignored events (stale epoch, older token, invalid)', () => {
    const t = new HistoryTracker('com.a.Svc');
    t.feed(
      0,
      msgs([
        ev({ instances: [inst('10.0.0.1')], orderToken: 5, epoch: 20 }),
        ev({ instances: [inst('10.0.0.9')], orderToken: 6, epoch: 10 }),
        ev({ instances: [inst('10.0.0.9')], orderToken: 4, epoch: 20 }),
        ev({
          instances: [inst('10.0.0.9')],
          orderToken: 7,
          epoch: 20,
          ports: [{ name: 'dubbo', number: 20880, protocol: 'DUBBO' }],
        }),
        ev({ instances: [inst('10.0.0.1')], orderToken: 8, epoch: 20 }),
      ]),
    );
    assert.deepEqual(
      t.records.map((r) => r.reason ?? r.outcome),
      ['applied', 'stale-epoch', 'older-order-token', 'invalid', 'unchanged'],
    );
    assert.match(t.records[1]!.detail!, /epoch 10 < 20/);
    assert.match(t.records[3]!.problems!.join(), /DUBBO/);
  });
});
