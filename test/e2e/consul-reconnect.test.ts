import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar, type ConsulInstance } from '../../harness/consul-registrar.ts';
import { startTcpProxy, type TcpProxy } from '../../harness/tcp-proxy.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { foldEquals, outage } from '../support/redis-fold.ts';

const BLOCK_S = 2;

/**
 * Consul going away: the agent down for a while and restarted on the same port (a dev agent keeps nothing, so only
 * what is registered again exists), and a network partition (a TCP proxy that stops forwarding) longer than a
 * blocking query's wait. Registry changes around each outage; each ends with Redis holding what Consul holds.
 */
describe("Consul restarts and partitions: the collector reconnects and Redis ends with the registry's truth", () => {
  let servers: Servers;
  let consul: ConsulServer;
  let mb: Pipeline;
  let proxy: TcpProxy;
  let reg: ConsulRegistrar;
  let redis: Redis;
  /** What Consul holds: instance id -> instance. */
  const truth = new Map<string, ConsulInstance>();

  const expected = () => {
    const out: Record<string, string[]> = {};
    for (const i of truth.values()) {
      out[`consul/${i.service}`] ??= [];
      out[`consul/${i.service}`]!.push(`${i.address}:${i.port}`);
    }
    for (const k of Object.keys(out)) out[k]!.sort();
    return out;
  };
  const connected = async () =>
    metricSum(mb.ports.collectorHttp, 'meshbridge_collector_registry_connected', { source: 'c1' });

  async function add(i: ConsulInstance): Promise<void> {
    await reg.register(i);
    truth.set(i.id, i);
  }
  async function drop(id: string): Promise<void> {
    await reg.deregister(truth.get(id)!);
    truth.delete(id);
  }

  const redisHoldsTruth = (what: string) =>
    foldEquals(redis, mb.config.redis.prefix, mb.config.kafka.partitions, 'c1', expected, what);

  before(async () => {
    const runDir = makeRunDir('e2e-consul-reconnect');
    [servers, consul] = await Promise.all([startServers(runDir), startConsul(runDir)]);
    proxy = await startTcpProxy(() => [consul.httpPort]);
    reg = new ConsulRegistrar(consul.address);
    await add({ service: 'orders', id: 'orders-1', address: '10.80.0.1', port: 8080 });
    await add({ service: 'orders', id: 'orders-2', address: '10.80.0.2', port: 8080 });
    await add({ service: 'stock', id: 'stock-1', address: '10.80.1.1', port: 8080 });
    mb = await pipeline(servers, {
      sources: [{ id: 'c1', kind: 'consul', address: `http://127.0.0.1:${proxy.port}`, blockWaitSeconds: BLOCK_S }],
    });
    redis = new Redis(servers.redis.url);
    await Promise.all([mb.start('projector'), mb.start('collector')]);
    await redisHoldsTruth('the initial registry in Redis');
  });

  after(async () => {
    redis?.disconnect();
    await mb?.stop();
    await proxy?.close();
    await consul?.stop();
    await servers?.stop();
  });

  it('the agent down for a while, then restarted on the same port with nothing registered: what is registered again is the truth', async () => {
    await consul.proc.stop();
    await waitFor(async () => (await connected()) === 0, {
      what: 'the collector noticing Consul is gone',
      timeoutMs: 20_000,
    });
    await outage(5000);
    await consul.restart();
    truth.clear(); // a dev agent keeps nothing across a restart
    await add({ service: 'orders', id: 'orders-3', address: '10.80.0.3', port: 8080 });
    await add({ service: 'billing', id: 'billing-1', address: '10.80.2.1', port: 8080 });
    await redisHoldsTruth('what the restarted agent holds');
  });

  it("a network partition longer than a blocking query's wait: nothing forwarded, then healed; changes made meanwhile arrive", async () => {
    proxy.partition(true);
    await add({ service: 'orders', id: 'orders-4', address: '10.80.0.4', port: 8080 });
    await drop('billing-1');
    await waitFor(async () => (await connected()) === 0, {
      what: 'the collector noticing the partition (a blocking query timing out)',
      timeoutMs: 30_000,
    });
    proxy.partition(false);
    await redisHoldsTruth('the registry after the partition healed');
  });
});
