import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addressSequence, classifyUnreached, KafkaArrivals, paced, providerChange } from '../../bench/churn.ts';
import type { TailedEvent } from '../../harness/event-tail.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';

const serviceState = (host: string, addresses: string[], appendedAt: number, port = 20880): TailedEvent => ({
  partition: 0,
  offset: '0',
  appendedAt,
  event: {
    kind: 'SERVICE_STATE',
    host,
    instances: addresses.map((address) => ({ address, ports: { dubbo: port }, labels: {}, weight: 100, locality: '' })),
  } as unknown as RegistryEvent,
});

describe('the churning benchmarks share their changes (bench/churn.ts)', () => {
  it('hands out distinct addresses, the same sequence in every benchmark', () => {
    const a = addressSequence();
    const b = addressSequence();
    const first = Array.from({ length: 70_000 }, a);
    assert.equal(new Set(first).size, first.length);
    assert.equal(first[0], '10.100.0.0');
    assert.equal(first[65_536 + 258], '10.101.1.2');
    assert.equal(b(), '10.100.0.0');
  });

  it('removes only providers registered at least 5 s ago, and keeps more than half of them', () => {
    const addedAt = new Map<string, number>();
    const list = ['a', 'b', 'c', 'd'];
    for (const x of list) addedAt.set(x, Date.now()); // all just added
    const next = addressSequence();
    for (let k = 0; k < 50; k++) {
      const before = [...list];
      const { address, remove } = providerChange(list, addedAt, 4, next);
      assert.equal(remove, false, 'a young provider was removed');
      assert.deepEqual(list, [...before, address]);
    }
    const old = ['a', 'b', 'c', 'd', 'e'];
    const aged = new Map(old.map((x) => [x, 0]));
    let removed = 0;
    for (let k = 0; k < 200; k++) {
      const { remove } = providerChange(old, aged, 4, next);
      if (remove) removed++;
      assert.ok(old.length >= 2, 'removed below half of the instances');
    }
    assert.ok(removed > 0, 'never removed an old provider');
  });

  it('runs each change in order, waiting for what it returns', async () => {
    const seen: number[] = [];
    let running = 0;
    await paced(500, 6, async (k) => {
      assert.equal(running, 0, 'a change began before the previous one ended');
      running++;
      await new Promise((r) => setTimeout(r, 1));
      seen.push(k);
      running--;
    });
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  });

  it('given two changes to a service, an event with the second set resolves both from its append time', async () => {
    const tail = { events: [] as TailedEvent[] };
    const arrivals = new KafkaArrivals(tail);
    arrivals.expect('svc-1', ['10.0.0.2', '10.0.0.1'], 1_000, 990);
    arrivals.expect('svc-1', ['10.0.0.1'], 1_010, 1_005);
    arrivals.expect('svc-2', ['10.0.0.9'], 1_020);
    tail.events.push(serviceState('svc-1', ['10.0.0.3'], 1_030)); // no expected set: resolves nothing
    tail.events.push(serviceState('svc-1', ['10.0.0.1'], 1_050));
    await arrivals.settle(200, () => undefined);
    assert.deepEqual(arrivals.latencies, [50, 40]);
    assert.deepEqual(arrivals.fromIssued, [60, 45]);
    assert.equal(arrivals.unresolved, 1);
    assert.deepEqual(arrivals.waiting(), [{ host: 'svc-2', at: 1_020, set: '10.0.0.9' }]);
    assert.equal(arrivals.summary().fromAck.n, 2);
  });

  it('matches instances by the key a benchmark gives (address:port for Dubbo providers)', async () => {
    const tail = { events: [serviceState('svc', ['10.0.0.1'], 2_000, 20881)] };
    const arrivals = new KafkaArrivals(tail, (x) => `${x.address}:${Object.values(x.ports)[0]}`);
    arrivals.expect('svc', ['10.0.0.1:20880'], 1_900);
    arrivals.expect('svc', ['10.0.0.1:20881'], 1_950);
    await arrivals.settle(200, () => undefined);
    assert.deepEqual(arrivals.latencies, [100, 50]);
  });

  it('counts an unseen add and the unseen removal of that provider as coalesced, any other unseen change as lost', () => {
    type C = { host: string; address: string; kind: 'add' | 'remove'; issuedAt: number; sidecar?: number };
    const changes: C[] = [
      { host: 'a', address: '10.0.0.1', kind: 'add', issuedAt: 1_000 }, // added, removed 6 s later, neither shown
      { host: 'a', address: '10.0.0.2', kind: 'add', issuedAt: 1_500, sidecar: 1_600 },
      { host: 'b', address: '10.0.0.3', kind: 'remove', issuedAt: 2_000 }, // an original provider's removal, unseen
      { host: 'a', address: '10.0.0.1', kind: 'remove', issuedAt: 7_000 },
      { host: 'b', address: '10.0.0.4', kind: 'add', issuedAt: 7_500 }, // unseen, never removed
      { host: 'c', address: '10.0.0.1', kind: 'remove', issuedAt: 8_000 }, // same address, another service
    ];
    assert.deepEqual(
      classifyUnreached(changes, (c) => c.host),
      { coalesced: 2, lost: 3 },
    );
    assert.deepEqual(
      classifyUnreached(
        changes.filter((c) => c.sidecar !== undefined),
        (c) => c.host,
      ),
      {
        coalesced: 0,
        lost: 0,
      },
    );
  });
});
