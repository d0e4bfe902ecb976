import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar } from '../../harness/consul-registrar.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { waitFor } from '../../harness/wait.ts';

describe('two Consul datacenters feeding one mesh host: each source owns its own endpoints', () => {
  let servers: Servers;
  let dc1: ConsulServer;
  let dc2: ConsulServer;
  let mb: Pipeline;
  let tail: EventTail;

  before(async () => {
    const runDir = makeRunDir('e2e-consul-multi-dc');
    [servers, dc1, dc2] = await Promise.all([
      startServers(runDir),
      startConsul(runDir, { datacenter: 'dc1', name: 'consul-dc1' }),
      startConsul(runDir, { datacenter: 'dc2', name: 'consul-dc2' }),
    ]);
    mb = await pipeline(servers, {
      sources: [
        { id: 'c-dc1', kind: 'consul', address: dc1.address, blockWaitSeconds: 5 },
        { id: 'c-dc2', kind: 'consul', address: dc2.address, blockWaitSeconds: 5 },
      ],
    });
    await mb.start('collector');
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
  });

  after(async () => {
    await tail?.close();
    await mb?.stop();
    await Promise.all([dc1?.stop(), dc2?.stop()]);
    await servers?.stop();
  });

  it('merges both datacenters under one host with their localities, and a deregistration in one leaves the other', async () => {
    const a = { service: 'inventory', id: 'inv-1', address: '10.7.1.1', port: 8080, meta: { protocol: 'http' } };
    const b = { service: 'inventory', id: 'inv-1', address: '10.7.2.1', port: 8080, meta: { protocol: 'http' } };
    await new ConsulRegistrar(dc1.address).register(a);
    await new ConsulRegistrar(dc2.address).register(b);
    await waitFor(
      () =>
        tail.endpoints('c-dc1')['consul/inventory']?.length === 1 &&
        tail.endpoints('c-dc2')['consul/inventory']?.length === 1,
      { what: 'inventory from both datacenters', timeoutMs: 30_000 },
    );
    assert.equal(tail.services('c-dc1').get('consul/inventory')!.instances[0]!.locality, 'dc1');
    assert.equal(tail.services('c-dc2').get('consul/inventory')!.instances[0]!.locality, 'dc2');
    // Both contributions live in the same folded service (one partition, one ServiceEntry).
    const folds = [...tail.partitions.values()].map((p) => p.services.get('consul/inventory')).filter(Boolean);
    assert.equal(folds.length, 1);
    assert.deepEqual(Object.keys(folds[0]!.sources).sort(), ['c-dc1', 'c-dc2']);

    await new ConsulRegistrar(dc2.address).deregister(b);
    await waitFor(() => !tail.services('c-dc2').has('consul/inventory'), {
      what: 'dc2 contribution removed',
      timeoutMs: 15_000,
    });
    assert.deepEqual(tail.endpoints('c-dc1')['consul/inventory'], ['10.7.1.1:8080'], 'dc1 untouched');
  });
});
