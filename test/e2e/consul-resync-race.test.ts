import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, startIstiodFor, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar } from '../../harness/consul-registrar.ts';
import type { IstiodServer } from '../../harness/istiod.ts';
import { waitFor } from '../../harness/wait.ts';
import { CollectorReplicas } from '../support/collector-replicas.ts';
import { IstiodWatch, registrationLoop } from '../support/istiod-watch.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';

const BASE = 150;

/**
 * The Consul side of issue 10, case 0: services registered while a re-read runs (periodic, and a standby's takeover
 * after kill -9 of the leader) are kept. Before the fix the marker deleted them and the re-read stopped watching them.
 */
describe('Consul: re-reads and a collector failover while services are being registered never lose a live service (istiod)', () => {
  let servers: Servers;
  let consul: ConsulServer;
  let mb: Pipeline;
  let istiod: IstiodServer;
  let reg: ConsulRegistrar;
  let replicas: CollectorReplicas;
  let watch: IstiodWatch;
  const registered = new Set<string>();

  async function add(name: string, n: number): Promise<void> {
    await reg.register({ service: name, id: `${name}-1`, address: `10.60.${n >> 8}.${n & 0xff}`, port: 8080 });
    registered.add(`consul/${name}`);
  }

  const registrations = (prefix: string, everyMs: number) => registrationLoop((n) => add(`${prefix}-${n}`, n), everyMs);
  const istiodHoldsAll = (what: string) => watch.holdsAll(what);

  before(async () => {
    const runDir = makeRunDir('e2e-consul-resync-race');
    [servers, consul] = await Promise.all([startServers(runDir, { istiod: true }), startConsul(runDir)]);
    reg = new ConsulRegistrar(consul.address);
    await Promise.all(Array.from({ length: BASE }, (_, i) => add(`base-${i}`, i)));
    mb = await pipeline(servers, {
      sources: [
        {
          id: 'c1',
          kind: 'consul',
          address: consul.address,
          blockWaitSeconds: 5,
          resyncIntervalMs: 1000,
          leaderElection: { leaseMs: 2000 },
        },
      ],
    });
    replicas = new CollectorReplicas(mb, 'c1');
    await Promise.all([mb.start('projector'), mb.start('gateway'), replicas.start('a'), replicas.start('b')]);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/readyz`)).status === 200, {
      what: 'gateway ready',
      timeoutMs: 30_000,
    });
    istiod = await startIstiodFor(servers, mb.ports.gatewayGrpcs);
    watch = new IstiodWatch(istiod.debug, () => registered);
    await istiodHoldsAll('istiod holding the base services');
  });

  after(async () => {
    await watch?.stop();
    await replicas?.stopAll();
    await istiod?.stop();
    await mb?.stop();
    await consul?.stop();
    await servers?.stop();
  });

  it('periodic re-reads (every second) while a service is registered every 25 ms', async () => {
    const r = registrations('p', 25);
    await waitFor(() => r.count() >= 200, { what: '200 registrations (about 5 re-reads)', timeoutMs: 30_000 });
    await r.stop();
    await istiodHoldsAll(`istiod holding all ${registered.size} registered services`);
    await watch.morePolls(20);
    await istiodHoldsAll('istiod still holding every registered service after the next re-reads');
    assert.deepEqual(watch.violations, []);
  });

  it("kill -9 of the leader while registrations run through the standby's takeover", async () => {
    const old = await replicas.leader();
    const r = registrations('f', 50);
    await waitFor(() => r.count() >= 3, { what: 'registrations under way', timeoutMs: 5000 });
    await old.proc.kill();
    await replicas.leader({ except: old, timeoutMs: 30_000 });
    const until = r.count() + 40;
    await waitFor(() => r.count() >= until, { what: 'registrations after the takeover', timeoutMs: 10_000 });
    await r.stop();
    await istiodHoldsAll(`istiod holding all ${registered.size} registered services after the failover`);
    await watch.morePolls(20);
    await istiodHoldsAll('istiod still holding every registered service');
    assert.deepEqual(watch.violations, []);
    const v = await meshbridge(mb.configFile, ['verify', '--registry', '--json']);
    assert.equal(v.code, 0, `verify --registry exit ${v.code}\n${v.stdout}\n${v.stderr}`);
  });
});
