import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { evolve } from '../../projection/evolve.ts';
import { emptyPartitionState, type PartitionState } from '../../projection/fold-state.ts';

// given/when/then over the pure fold: events in, state and reported effects out.
let seq = 0;
function ev(over: Partial<RegistryEvent>): RegistryEvent {
  return {
    eventId: `e${++seq}`,
    kind: 'SERVICE_STATE',
    sourceId: 'zk1',
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'c1',
    epoch: 1,
    generation: 'g1',
    observedAt: 1_700_000_000_000,
    namespace: 'dubbo',
    host: 'a.svc',
    registryService: 'A',
    orderToken: 10,
    ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
    instances: [{ address: '10.0.0.1', ports: { 'tcp-dubbo': 20880 }, labels: {}, weight: 0, locality: '' }],
    issues: [],
    resyncServices: [],
    raw: null,
    ...over,
  };
}
function given(...events: RegistryEvent[]): PartitionState {
  const s = emptyPartitionState();
  for (const e of events) evolve(s, e);
  return s;
}
const addresses = (s: PartitionState, key = 'dubbo/a.svc') =>
  Object.values(s.services.get(key)?.sources ?? {})
    .flatMap((c) => c.instances.map((i) => i.address))
    .sort();

describe('evolve', () => {
  it('given nothing, when a service state arrives, then the service exists with its create time', () => {
    const s = given();
    const r = evolve(s, ev({ observedAt: 42 }));
    assert.deepEqual(r.changed, ['dubbo/a.svc']);
    assert.equal(s.services.get('dubbo/a.svc')!.createTimeMs, 42);
  });

  it('given a state, when the same state arrives again (duplicate or replay), then nothing changes', () => {
    const s = given(ev({}));
    const before = JSON.stringify([...s.services]);
    assert.deepEqual(evolve(s, ev({ orderToken: 11 })).changed, []);
    assert.equal(JSON.stringify([...s.services]).replace('"orderToken":11', '"orderToken":10'), before);
  });

  it('given a state at token 10, when an older token arrives, then it is ignored', () => {
    const s = given(ev({ orderToken: 10 }));
    const r = evolve(s, ev({ orderToken: 9, instances: [] }));
    assert.equal(r.ignored, 'older-order-token');
    assert.deepEqual(addresses(s), ['10.0.0.1']);
  });

  it('given epoch 2 seen, when an epoch-1 event arrives (superseded collector), then it is fenced', () => {
    const s = given(ev({ epoch: 2 }));
    const r = evolve(s, ev({ epoch: 1, orderToken: 99, instances: [] }));
    assert.equal(r.ignored, 'stale-epoch');
    assert.deepEqual(addresses(s), ['10.0.0.1']);
  });

  it('given token 10 from epoch 1, when a new leader (epoch 2) reports token 9, then its re-read state wins', () => {
    const s = given(ev({ orderToken: 10 }));
    const r = evolve(
      s,
      ev({
        epoch: 2,
        orderToken: 9,
        instances: [{ address: '10.0.0.2', ports: { 'tcp-dubbo': 20880 }, labels: {}, weight: 0, locality: '' }],
      }),
    );
    assert.equal(r.ignored, undefined);
    assert.deepEqual(addresses(s), ['10.0.0.2']);
  });

  it('given a removal (seq 5), when an earlier event of that publisher is re-delivered (seq 3), then it cannot revive the service', () => {
    const s = given(ev({ seq: 3 }), ev({ kind: 'SERVICE_REMOVED', seq: 5, instances: [], ports: [] }));
    assert.equal(s.services.has('dubbo/a.svc'), false);
    const r = evolve(s, ev({ seq: 3 }));
    assert.equal(r.ignored, 'removed-later');
    assert.equal(s.services.has('dubbo/a.svc'), false);
  });

  it('given a removal, when the publisher registers it again (seq 6), or a new leader does (epoch 2, seq 1), then it is back', () => {
    const s = given(ev({ seq: 3 }), ev({ kind: 'SERVICE_REMOVED', seq: 5, instances: [], ports: [] }));
    assert.deepEqual(evolve(s, ev({ seq: 6 })).changed, ['dubbo/a.svc']);
    assert.equal(s.tombstones.size, 0, 'the tombstone goes when the service comes back');
    const t = given(ev({ seq: 3 }), ev({ kind: 'SERVICE_REMOVED', seq: 5, instances: [], ports: [] }));
    assert.deepEqual(evolve(t, ev({ epoch: 2, seq: 1 })).changed, ['dubbo/a.svc']);
  });

  it('given a state at seq 8, when a re-delivery of seq 4 of the same publisher arrives, then it is ignored; v2 events (no seq) are never judged so', () => {
    const s = given(ev({ seq: 8, orderToken: null }));
    assert.equal(evolve(s, ev({ seq: 4, orderToken: null, instances: [] })).ignored, 'redelivered');
    assert.deepEqual(addresses(s), ['10.0.0.1']);
    const v2 = given(ev({ orderToken: null }));
    assert.deepEqual(evolve(v2, ev({ orderToken: null, instances: [] })).changed, ['dubbo/a.svc']);
  });

  it("given tombstones, when the source's next marker comes an hour later, or from a new epoch, then they are pruned", () => {
    const s = given(
      ev({ seq: 3 }),
      ev({ kind: 'SERVICE_REMOVED', seq: 5, instances: [], ports: [], observedAt: 1_000 }),
    );
    evolve(s, ev({ kind: 'RESYNC_END', seq: 6, host: '', namespace: '', resyncServices: [], observedAt: 2_000 }));
    assert.equal(s.tombstones.size, 1, 'young tombstones stay');
    evolve(
      s,
      ev({ kind: 'RESYNC_END', seq: 7, host: '', namespace: '', resyncServices: [], observedAt: 1_000 + 3_600_001 }),
    );
    assert.equal(s.tombstones.size, 0);
    const t = given(ev({ seq: 3 }), ev({ kind: 'SERVICE_REMOVED', seq: 5, instances: [], ports: [] }));
    evolve(t, ev({ kind: 'RESYNC_END', epoch: 2, seq: 1, host: '', namespace: '', resyncServices: [] }));
    assert.equal(t.tombstones.size, 0);
  });

  it('given a service, when its last instance leaves, then it keeps its ports (no full push in istiod) and has no endpoints', () => {
    const s = given(ev({}));
    evolve(s, ev({ orderToken: 11, ports: [], instances: [] }));
    const c = s.services.get('dubbo/a.svc')!.sources.zk1!;
    assert.deepEqual(c.ports, [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }]);
    assert.deepEqual(c.instances, []);
  });

  it('given a valid state, when an invalid one arrives, then it is ignored with the reason and the valid state stays', () => {
    const s = given(ev({}));
    const r = evolve(
      s,
      ev({
        orderToken: 11,
        instances: [{ address: 'not-an-ip', ports: { 'tcp-dubbo': 1 }, labels: {}, weight: 0, locality: '' }],
      }),
    );
    assert.equal(r.ignored, 'invalid');
    assert.match(r.problems!.join(), /not an IP/);
    assert.deepEqual(addresses(s), ['10.0.0.1']);
  });

  it("given two sources feeding one host, when one removes it, then the other source's endpoints remain", () => {
    const s = given(
      ev({}),
      ev({
        sourceId: 'consul-dc1',
        instances: [{ address: '10.0.1.1', ports: { 'tcp-dubbo': 20880 }, labels: {}, weight: 0, locality: '' }],
      }),
    );
    assert.deepEqual(addresses(s), ['10.0.0.1', '10.0.1.1']);
    evolve(s, ev({ kind: 'SERVICE_REMOVED', orderToken: 12 }));
    assert.deepEqual(addresses(s), ['10.0.1.1']);
    evolve(s, ev({ kind: 'SERVICE_REMOVED', sourceId: 'consul-dc1', orderToken: 12 }));
    assert.equal(s.services.has('dubbo/a.svc'), false);
  });

  it('given services of a source, when a resync marker omits one, then only that one is removed', () => {
    const s = given(ev({ host: 'a.svc' }), ev({ host: 'b.svc' }), ev({ host: 'c.svc', sourceId: 'other' }));
    const r = evolve(s, ev({ kind: 'RESYNC_END', namespace: '', host: '', resyncServices: ['dubbo/a.svc'] }));
    assert.deepEqual(r.changed, ['dubbo/b.svc']);
    assert.equal(r.resyncedSource, 'zk1');
    assert.deepEqual([...s.services.keys()].sort(), ['dubbo/a.svc', 'dubbo/c.svc']);
  });
});
