import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startZooKeeper } from '../../harness/zookeeper.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { foldEquals, outage } from '../support/redis-fold.ts';

const SESSION_MS = 4000;
const INTERFACES = 8;

/**
 * ZooKeeper going away while a periodic re-read is reading. The re-read here is paced to 4 reads a second and
 * repeats every second, so one is always in flight when ZooKeeper stops. Its queued read was never answered once the
 * collector replaced the dead session's client, every later re-read waited on it, and the source never read or
 * watched again: after the restart, changes were lost until the collector itself restarted.
 */
describe('a periodic re-read in flight when ZooKeeper goes away for longer than the session', {
  timeout: 180_000,
}, () => {
  let servers: Servers;
  let mb: Pipeline;
  let dubbo: DubboRegistrar;
  let redis: Redis;
  const root = `/dubbo-reread-outage-${process.pid}`;
  const truth = new Map<string, string[]>();
  const expected = () =>
    Object.fromEntries([...truth.entries()].map(([i, a]) => [`dubbo/${i.toLowerCase()}`, a.map((x) => `${x}:20880`)]));
  const connected = async () =>
    metricSum(mb.ports.collectorHttp, 'meshbridge_collector_registry_connected', { source: 'zk1' });

  const redisHolds = (what: string) =>
    foldEquals(redis, mb.config.redis.prefix, mb.config.kafka.partitions, 'zk1', expected, what);

  async function register(iface: string, address: string): Promise<void> {
    await dubbo.register(iface, address, 20880);
    truth.set(iface, [...(truth.get(iface) ?? []), address].sort());
  }

  before(async () => {
    servers = await startServers(makeRunDir('e2e-zk-reread-outage'));
    mb = await pipeline(servers, {
      sources: [
        {
          id: 'zk1',
          kind: 'zookeeper-dubbo',
          connect: servers.zookeeper.connectString,
          root,
          sessionTimeoutMs: SESSION_MS,
          resyncIntervalMs: 1000,
          periodicResyncReadsPerSecond: 4,
        },
      ],
    });
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, root, { persistent: true });
    for (let i = 0; i < INTERFACES; i++) await register(`com.ro.S${i}`, `10.71.${i}.1`);
    redis = new Redis(servers.redis.url);
    await Promise.all([mb.start('projector'), mb.start('collector')]);
    await redisHolds('the registry in Redis');
  });

  after(async () => {
    dubbo?.close();
    redis?.disconnect();
    await mb?.stop();
    await servers?.stop();
  });

  it('given a re-read reading, when ZooKeeper stops past the session and comes back, then changes made meanwhile and after arrive', async () => {
    // Stop ZooKeeper in the middle of a periodic pass: it has statted one to five of its eight interfaces (a quarter
    // of a second each), so the rest of its reads go out while ZooKeeper is gone.
    await waitFor(
      async () => {
        const statted = await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_resync_keys_total', {
          source: 'zk1',
          how: 'unchanged',
        });
        const inPass = statted % INTERFACES;
        return inPass >= 1 && inPass <= 5;
      },
      { what: 'a periodic re-read part-way through', timeoutMs: 15_000, intervalMs: 50 },
    );
    await servers.zookeeper.proc.stop();
    await waitFor(async () => (await connected()) === 0, { what: 'the collector noticing', timeoutMs: 20_000 });
    await outage(SESSION_MS + 2000);
    servers.zookeeper = await startZooKeeper(servers.runDir, { port: servers.zookeeper.port });
    dubbo.close();
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, root, { persistent: true });
    await register('com.ro.S0', '10.71.0.2');
    await register('com.ro.New', '10.71.99.1');
    await redisHolds('changes made right after the outage');
    await register('com.ro.S1', '10.71.1.2');
    await redisHolds('a later change');
    // The read that was in flight was abandoned with its client, by name, not left waiting.
    const log = fs.readFileSync(mb.procs.collector!.logFile, 'utf8');
    assert.match(log, /ZooKeeper request for \/[^"]* abandoned: its client was closed/);
    assert.equal(mb.procs.collector!.running, true);
  });
});
