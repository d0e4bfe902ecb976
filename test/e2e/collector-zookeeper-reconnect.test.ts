import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startZooKeeper } from '../../harness/zookeeper.ts';
import { startTcpProxy, type TcpProxy } from '../../harness/tcp-proxy.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { foldEquals, outage } from '../support/redis-fold.ts';

const SESSION_MS = 4000;
const hostOf = (iface: string) => `dubbo/${iface.toLowerCase()}`;

/**
 * ZooKeeper going away in every way an operator sees it: restarted on the same port with its data, restarted empty
 * (a rebuilt ensemble), down for longer than the collector's session, and a network partition (a TCP proxy in front
 * of ZooKeeper that stops forwarding without closing anything). Each case changes the registry around the outage and
 * ends with Redis holding exactly what ZooKeeper holds, without restarting the collector.
 */
describe("ZooKeeper restarts and partitions: the collector reconnects and Redis ends with the registry's truth", {
  timeout: 300_000,
}, () => {
  let servers: Servers;
  let mb: Pipeline;
  let proxy: TcpProxy;
  let dubbo: DubboRegistrar;
  let redis: Redis;
  let root: string;
  /** What ZooKeeper holds: interface -> address -> znode path. */
  const truth = new Map<string, Map<string, string>>();

  const expected = () =>
    Object.fromEntries(
      [...truth.entries()].map(([i, m]) => [hostOf(i), [...m.keys()].map((a) => `${a}:20880`).sort()]),
    );
  const connected = async () =>
    metricSum(mb.ports.collectorHttp, 'meshbridge_collector_registry_connected', { source: 'zk1' });

  async function register(iface: string, address: string): Promise<void> {
    const znode = await dubbo.register(iface, address, 20880);
    const m = truth.get(iface) ?? new Map<string, string>();
    m.set(address, znode);
    truth.set(iface, m);
  }

  async function unregister(iface: string, address: string): Promise<void> {
    await dubbo.unregister(truth.get(iface)!.get(address)!);
    truth.get(iface)!.delete(address);
  }

  const redisHoldsTruth = (what: string) =>
    foldEquals(redis, mb.config.redis.prefix, mb.config.kafka.partitions, 'zk1', expected, what);

  async function restartZooKeeper(opts: { wipe: boolean; downMs?: number }): Promise<void> {
    await servers.zookeeper.proc.stop();
    await waitFor(async () => (await connected()) === 0, {
      what: 'the collector noticing ZooKeeper is gone',
      timeoutMs: 20_000,
    });
    if (opts.downMs) await outage(opts.downMs);
    if (opts.wipe) fs.rmSync(path.join(servers.runDir, 'zookeeper', 'data'), { recursive: true, force: true });
    servers.zookeeper = await startZooKeeper(servers.runDir, { port: servers.zookeeper.port });
    // The test's own client, not the collector under test: a fresh one each time (node-zookeeper-client can stay
    // stuck after a server drops its connection during start-up; the collector handles that with its watchdog).
    // Its provider nodes are persistent, so reopening it changes nothing in the registry.
    dubbo.close();
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, root, { persistent: true });
  }

  before(async () => {
    servers = await startServers(makeRunDir('e2e-zk-reconnect'));
    proxy = await startTcpProxy(() => [servers.zookeeper.port]);
    root = `/dubbo-reconnect-${process.pid}`;
    mb = await pipeline(servers, {
      sources: [
        { id: 'zk1', kind: 'zookeeper-dubbo', connect: `127.0.0.1:${proxy.port}`, root, sessionTimeoutMs: SESSION_MS },
      ],
    });
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, root, { persistent: true });
    await register('com.rc.A', '10.70.0.1');
    await register('com.rc.A', '10.70.0.2');
    await register('com.rc.B', '10.70.1.1');
    redis = new Redis(servers.redis.url);
    await Promise.all([mb.start('projector'), mb.start('collector')]);
    await redisHoldsTruth('the initial registry in Redis');
  });

  after(async () => {
    dubbo?.close();
    redis?.disconnect();
    await mb?.stop();
    await proxy?.close();
    await servers?.stop();
  });

  it('restarted on the same port with its data: the session resumes, later changes flow', async () => {
    await restartZooKeeper({ wipe: false });
    await register('com.rc.C', '10.70.2.1');
    await unregister('com.rc.A', '10.70.0.1');
    await redisHoldsTruth('changes after the restart');
  });

  it("down for longer than the collector's session: a new session, a full re-read, and changes made meanwhile", async () => {
    const resyncs = await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'zk1' });
    await restartZooKeeper({ wipe: false, downMs: SESSION_MS + 2000 });
    await register('com.rc.D', '10.70.3.1');
    await unregister('com.rc.B', '10.70.1.1');
    await redisHoldsTruth('the registry after a long outage');
    assert.ok(
      (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'zk1' })) > resyncs,
      'a full re-read ran',
    );
  });

  it('restarted empty (fresh data, same port): the collector gets a session on the new server and the marker removes what is gone', async () => {
    await restartZooKeeper({ wipe: true });
    truth.clear();
    await register('com.rc.E', '10.70.4.1');
    await register('com.rc.A', '10.70.0.9');
    await redisHoldsTruth('only what the new, empty ZooKeeper holds');
  });

  it('a network partition longer than the session: nothing forwarded, then healed; changes made meanwhile arrive', async () => {
    proxy.partition(true);
    await waitFor(async () => (await connected()) === 0, {
      what: 'the collector noticing the partition',
      timeoutMs: 20_000,
    });
    await register('com.rc.F', '10.70.5.1');
    await unregister('com.rc.E', '10.70.4.1');
    await outage(SESSION_MS + 1000);
    proxy.partition(false);
    await redisHoldsTruth('the registry after the partition healed');
    assert.equal(await connected(), 1);
  });
});
