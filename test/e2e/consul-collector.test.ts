import { metricSum } from '../../harness/prom-text.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar, type ConsulInstance } from '../../harness/consul-registrar.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { waitFor } from '../../harness/wait.ts';

const TOKEN = 'meshbridge-test-management-token';

const metric = metricSum;

describe('Consul collector against a real Consul dev agent (with ACLs) and Kafka', () => {
  let servers: Servers;
  let consul: ConsulServer;
  let mb: Pipeline;
  let tail: EventTail;
  let reg: ConsulRegistrar;
  const web1: ConsulInstance = {
    service: 'web',
    id: 'web-1',
    address: '10.1.0.1',
    port: 8080,
    meta: { protocol: 'http', version: 'v1' },
    tags: ['env=prod'],
  };
  const web2: ConsulInstance = {
    service: 'web',
    id: 'web-2',
    address: '10.1.0.2',
    port: 8080,
    meta: { protocol: 'http', version: 'v2' },
  };
  const api1: ConsulInstance = {
    service: 'payments-api',
    id: 'api-1',
    address: '10.1.1.1',
    port: 9090,
    meta: { protocol: 'grpc' },
    status: 'critical',
  };

  before(async () => {
    const runDir = makeRunDir('e2e-consul');
    [servers, consul] = await Promise.all([startServers(runDir), startConsul(runDir, { managementToken: TOKEN })]);
    reg = new ConsulRegistrar(consul.address, TOKEN);
    await Promise.all([web1, web2, api1].map((i) => reg.register(i)));
    mb = await pipeline(servers, {
      sources: [
        {
          id: 'c1',
          kind: 'consul',
          address: consul.address,
          tokenFile: writeToken(runDir),
          coalesceMs: 10,
          blockWaitSeconds: 5,
          resyncIntervalMs: 2000,
          leaderElection: { leaseMs: 3000 },
        },
      ],
    });
    await mb.start('collector');
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
  });

  after(async () => {
    await tail?.close();
    await mb?.stop();
    await consul?.stop();
    await servers?.stop();
  });

  it('publishes every service with passing instances only, istio protocols, labels and datacenter locality', async () => {
    const eps = await waitFor(
      () => {
        const e = tail.endpoints('c1');
        return e['consul/web']?.length === 2 && 'consul/payments-api' in e ? e : undefined;
      },
      { what: 'web and payments-api from Consul', timeoutMs: 30_000 },
    );
    assert.deepEqual(eps['consul/web'], ['10.1.0.1:8080', '10.1.0.2:8080']);
    assert.deepEqual(eps['consul/payments-api'], [], 'critical instance excluded');
    assert.ok(!('consul/consul' in eps), "the agent's own service is excluded");
    const web = tail.services('c1').get('consul/web')!;
    assert.deepEqual(plain(web.ports), [{ name: 'http', number: 8080, protocol: 'HTTP' }]);
    assert.deepEqual(plain(web.instances[0]!.labels), { version: 'v1', env: 'prod', 'meshbridge.io/source': 'c1' });
    assert.equal(web.instances[0]!.locality, 'dc1');
    // The marker follows the resync's last service event; on a loaded machine the tail can hold one and not yet the
    // other, so wait for it (bounded) rather than expect it in the same read.
    await waitFor(
      () => tail.events.some((e) => e.event.kind === 'RESYNC_END' && e.event.sourceId === 'c1') || undefined,
      {
        what: 'the start-up resync ending with a marker',
        timeoutMs: 30_000,
      },
    );
  });

  it('follows health changes and deregistration through blocking queries', async () => {
    await reg.setStatus(api1, 'passing');
    await reg.setStatus(web2, 'critical');
    await waitFor(
      () => {
        const e = tail.endpoints('c1');
        return e['consul/payments-api']?.join() === '10.1.1.1:9090' && e['consul/web']?.join() === '10.1.0.1:8080';
      },
      { what: 'api passing, web-2 critical', timeoutMs: 15_000 },
    );
    assert.deepEqual(plain(tail.services('c1').get('consul/payments-api')!.ports), [
      { name: 'grpc', number: 9090, protocol: 'GRPC' },
    ]);
    await reg.deregister(api1);
    await waitFor(() => !tail.services('c1').has('consul/payments-api'), {
      what: 'payments-api removed',
      timeoutMs: 15_000,
    });
  });

  it('bad registry data is reported by source, service and field and affects nothing else', async () => {
    const before = await metric(mb.ports.collectorHttp, 'meshbridge_collector_rejected_data_total', { source: 'c1' });
    await reg.register({
      service: 'web',
      id: 'web-bad-host',
      node: 'n-bad',
      address: '10.1.0.9',
      serviceAddress: 'not-an-ip.example.com',
      port: 8080,
      meta: { protocol: 'http' },
    });
    await reg.register({
      service: 'web',
      id: 'web-bad-label',
      node: 'n-lbl',
      address: '10.1.0.10',
      port: 8080,
      meta: { protocol: 'http', version: 'v3 (canary)!!', ...hugeMeta() },
    });
    await reg.register({
      service: 'legacy',
      id: 'legacy-1',
      address: '10.1.2.1',
      port: 7000,
      meta: { protocol: 'thrift' },
    });
    const eps = await waitFor(
      () => {
        const e = tail.endpoints('c1');
        return e['consul/web']?.length === 2 && e['consul/legacy']?.length === 1 ? e : undefined;
      },
      { what: 'web with the fixable instance, legacy as TCP', timeoutMs: 15_000 },
    );
    assert.deepEqual(eps['consul/web'], ['10.1.0.10:8080', '10.1.0.1:8080']);
    const web = tail.services('c1').get('consul/web')!;
    assert.equal(web.instances.find((i) => i.address === '10.1.0.10')!.labels.version, 'v3--canary');
    assert.deepEqual(plain(tail.services('c1').get('consul/legacy')!.ports), [
      { name: 'tcp', number: 7000, protocol: 'TCP' },
    ]);
    const after = await waitFor(
      async () => {
        const n = await metric(mb.ports.collectorHttp, 'meshbridge_collector_rejected_data_total', { source: 'c1' });
        return n >= before + 3 ? n : undefined;
      },
      { what: 'rejected-data metric', timeoutMs: 5000 },
    );
    assert.ok(after >= before + 3);
    const log = fs
      .readFileSync(mb.procs.collector!.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('registry data not usable as-is'))
      .map((l) => JSON.parse(l));
    const addr = log.find((l) => l.field === 'instances[n-bad/web-bad-host].address');
    assert.ok(addr, 'log line names the field');
    assert.equal(addr.source, 'c1');
    assert.equal(addr.service, 'web');
    assert.ok(log.find((l) => l.field === 'instances[node-10-1-2-1/legacy-1].meta.protocol' && l.service === 'legacy'));
    // Once per problem, not per re-read; metric labels from a fixed vocabulary (no node or instance names).
    const resyncs = await metric(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'c1' });
    await waitFor(
      async () =>
        (await metric(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'c1' })) >= resyncs + 2,
      { what: 'two more full re-reads', timeoutMs: 15_000 },
    );
    const again = fs
      .readFileSync(mb.procs.collector!.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('registry data not usable as-is'))
      .map((l) => JSON.parse(l));
    assert.equal(again.filter((l) => l.field === 'instances[n-bad/web-bad-host].address').length, 1, 'logged once');
    assert.equal(
      await metric(mb.ports.collectorHttp, 'meshbridge_collector_rejected_data_total', { source: 'c1' }),
      after,
      'counted once',
    );
    const text = await (await fetch(`http://127.0.0.1:${mb.ports.collectorHttp}/metrics`)).text();
    const series = text
      .split('\n')
      .filter((l) => l.startsWith('meshbridge_collector_rejected_data_total{') && l.includes('source="c1"'));
    for (const s of series) assert.match(s, /field="(instances\.[a-z]+|entries|ports|catalog)"/, s);
    assert.ok(!series.some((s) => /n-bad|web-bad|node-10/.test(s)), series.join('\n'));
    await Promise.all([
      reg.deregister({ ...web1, id: 'web-bad-host', node: 'n-bad' }),
      reg.deregister({ ...web1, id: 'web-bad-label', node: 'n-lbl' }),
    ]);
  });

  it('recovers from a Consul agent restart that lost registrations: resync, vanished services deleted', async () => {
    await waitFor(() => tail.endpoints('c1')['consul/web']?.length === 1, {
      what: 'web back to one instance',
      timeoutMs: 15_000,
    });
    const resyncsBefore = await metric(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'c1' });
    // A dev agent keeps nothing across a restart: only what is registered again exists afterwards.
    await consul.restart();
    await reg.register({ ...web2, status: 'passing' });
    await reg.register({
      service: 'orders',
      id: 'orders-1',
      address: '10.1.3.1',
      port: 8081,
      meta: { protocol: 'http2' },
    });
    const eps = await waitFor(
      () => {
        const e = tail.endpoints('c1');
        return !('consul/legacy' in e) &&
          e['consul/orders']?.length === 1 &&
          e['consul/web']?.join() === '10.1.0.2:8080'
          ? e
          : undefined;
      },
      { what: 'state after the agent restart', timeoutMs: 30_000 },
    );
    assert.deepEqual(Object.keys(eps).sort(), ['consul/orders', 'consul/web']);
    assert.ok(
      (await metric(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'c1' })) > resyncsBefore,
    );
  });

  it('changes made while no collector watched are healed by the start-up resync marker', async () => {
    await mb.procs.collector!.stop();
    await consul.restart();
    await reg.register({ ...web2, status: 'passing' });
    await reg.register({ ...web1, status: 'passing' });
    const fromOffset = tail.events.length;
    await mb.start('collector');
    const eps = await waitFor(
      () => {
        const e = tail.endpoints('c1');
        return !('consul/orders' in e) && e['consul/web']?.length === 2 ? e : undefined;
      },
      { what: 'orders deleted by the resync marker, web with both instances', timeoutMs: 30_000 },
    );
    assert.deepEqual(Object.keys(eps), ['consul/web']);
    // Every partition's marker (each lists that partition's services; web's lists web).
    const later = await waitFor(
      () => {
        const l = tail.events.slice(fromOffset).map((e) => e.event);
        return l.filter((e) => e.kind === 'RESYNC_END').length === mb.config.kafka.partitions ? l : undefined;
      },
      { what: 'a resync marker on every partition', timeoutMs: 10_000 },
    );
    assert.ok(later.some((e) => e.kind === 'RESYNC_END' && e.resyncServices.includes('consul/web')));
    assert.ok(
      !later.some((e) => e.kind === 'SERVICE_REMOVED'),
      'nobody published a removal: the marker deleted orders',
    );
  });
});

/** Decoded Avro records are class instances: compare their plain JSON shape. */
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v));

/** As much metadata as Consul accepts (64 pairs, 512-byte values), none of which a label rule maps. */
function hugeMeta(): Record<string, string> {
  return Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`junk_${i}`, `${'x'.repeat(500)}${i}`]));
}

function writeToken(dir: string): string {
  const f = `${dir}/consul-token`;
  fs.writeFileSync(f, `${TOKEN}\n`, { mode: 0o600 });
  return f;
}
