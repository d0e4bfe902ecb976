import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fourLetter } from '../../harness/zookeeper.ts';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { connect, type ZkClient } from '../../services/collector/zk-client.ts';
import { remove } from '../../harness/zk-write.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';

/** Client connections ZooKeeper holds (the `cons` four-letter word): one fewer once a paused client's session expired. */
async function connections(port: number): Promise<number> {
  const out = await fourLetter(port, 'cons');
  if (!out) return -1;
  return out.split('\n').filter((l) => l.includes('sid=') && !l.includes('queued=0/recved=1/sent=0')).length;
}

describe('ZooKeeper session expiry: the collector starts a new session and its resync marker deletes what vanished', () => {
  let servers: Servers;
  let mb: Pipeline;
  let dubbo: DubboRegistrar;
  let admin: ZkClient;
  let tail: EventTail;
  let root: string;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-collector-zk-expiry'));
    mb = await pipeline(servers, {});
    root = mb.config.sources[0].root;
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, root);
    admin = await connect(servers.zookeeper.connectString, 30_000);
  });

  after(async () => {
    mb?.procs.collector?.signal('SIGCONT');
    await tail?.close();
    dubbo?.close();
    admin?.close();
    await mb?.stop();
    await servers?.stop();
  });

  it('recovers after being paused beyond its session timeout', async () => {
    const a1 = await dubbo.register('com.exp.A', '10.9.0.1', 20880);
    await dubbo.register('com.exp.A', '10.9.0.2', 20880);
    const b1 = await dubbo.register('com.exp.B', '10.9.1.1', 20880);
    // A short session (ZooKeeper runs with 500 ms ticks) and a long lease: the pause expires the session, not the leadership.
    mb.config.sources[0] = { ...mb.config.sources[0], sessionTimeoutMs: 2000, leaderElection: { leaseMs: 60_000 } };
    (await import('node:fs')).writeFileSync(mb.configFile, JSON.stringify(mb.config));
    const collector = await mb.start('collector');
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
    await waitFor(
      () =>
        tail.endpoints('zk1')['dubbo/com.exp.a']?.length === 2 &&
        tail.endpoints('zk1')['dubbo/com.exp.b']?.length === 1,
      { what: 'A and B published', timeoutMs: 30_000 },
    );
    const before = await connections(servers.zookeeper.port);

    collector.signal('SIGSTOP');
    await waitFor(async () => (await connections(servers.zookeeper.port)) === before - 1, {
      what: "ZooKeeper expiring the paused collector's session",
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    // While it has no session (no watch notification can reach it): one provider of A leaves, B disappears altogether, C appears.
    await dubbo.unregister(a1);
    await dubbo.unregister(b1);
    await remove(admin, `${root}/com.exp.B/providers`);
    await remove(admin, `${root}/com.exp.B`);
    await dubbo.register('com.exp.C', '10.9.2.1', 20880);
    collector.signal('SIGCONT');

    const eps = await waitFor(
      () => {
        const e = tail.endpoints('zk1');
        return !('dubbo/com.exp.b' in e) && e['dubbo/com.exp.a']?.length === 1 && e['dubbo/com.exp.c']?.length === 1
          ? e
          : undefined;
      },
      { what: 'state after the session expiry', timeoutMs: 30_000 },
    );
    assert.deepEqual(eps, { 'dubbo/com.exp.a': ['10.9.0.2:20880'], 'dubbo/com.exp.c': ['10.9.2.1:20880'] });
    await waitFor(
      async () =>
        (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', {
          source: 'zk1',
          reason: 'session-expired',
        })) >= 1,
      { what: 'a resync counted as session-expired', timeoutMs: 5000 },
    );
    // B vanished while the collector had no session: nobody published its removal, the resync marker deleted it.
    assert.ok(!tail.events.some((e) => e.event.kind === 'SERVICE_REMOVED' && e.event.host === 'com.exp.b'));

    // Watches work on the new session.
    await dubbo.register('com.exp.C', '10.9.2.2', 20880);
    await waitFor(() => tail.endpoints('zk1')['dubbo/com.exp.c']?.length === 2, {
      what: 'a change after recovery',
      timeoutMs: 10_000,
    });
  });
});
