import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { CollectorReplicas, type Replica } from '../support/collector-replicas.ts';
import { sourceFold } from '../support/redis-fold.ts';

const SERVICES = 16;
const LEASE_MS = 2000;
const iface = (i: number) => `com.ha.Svc${i}`;
const hostOf = (i: number) => `dubbo/com.ha.svc${i}`;

/**
 * Registry churn that remembers what ZooKeeper holds, so the final snapshot can be compared exactly. Each step
 * registers a new provider or unregisters one, on a random service.
 */
class Churn {
  readonly providers = new Map<number, Map<string, string>>(); // service -> "ip:port" -> znode
  private running = false;
  private loop: Promise<void> | undefined;
  private n = 0;
  ops = 0;
  constructor(private readonly dubbo: DubboRegistrar) {}

  async add(i: number): Promise<void> {
    const ip = `10.${20 + ((this.n >> 16) & 0xff)}.${(this.n >> 8) & 0xff}.${this.n & 0xff}`;
    this.n++;
    const znode = await this.dubbo.register(iface(i), ip, 20880);
    const m = this.providers.get(i) ?? new Map<string, string>();
    m.set(`${ip}:20880`, znode);
    this.providers.set(i, m);
  }

  async step(): Promise<void> {
    const i = Math.floor(Math.random() * SERVICES);
    const m = this.providers.get(i)!;
    if (m.size > 1 && Math.random() < 0.5) {
      const [addr, znode] = [...m.entries()][Math.floor(Math.random() * m.size)]!;
      await this.dubbo.unregister(znode);
      m.delete(addr);
    } else await this.add(i);
    this.ops++;
  }

  /** ~100 registry changes per second until stop(). */
  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.step();
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  expected(): Record<string, string[]> {
    return Object.fromEntries([...this.providers.entries()].map(([i, m]) => [hostOf(i), [...m.keys()].sort()]));
  }
}

describe('collector high availability: replicas, failover, fencing', () => {
  let servers: Servers;
  let mb: Pipeline;
  let dubbo: DubboRegistrar;
  let redis: Redis;
  let churn: Churn;
  let replicas: CollectorReplicas;
  const startReplica = (id: string) => replicas.start(id);
  const leader = () => replicas.leader();
  const leaderState = (r: Replica) => replicas.status(r);

  async function assertFinalSnapshotExact(): Promise<{ epochs: number[] }> {
    const expected = churn.expected();
    let last: Record<string, string[]> = {};
    return waitFor(
      async () => {
        const s = await sourceFold(redis, mb.config.redis.prefix, mb.config.kafka.partitions, 'zk1');
        last = s.endpoints;
        return JSON.stringify(s.endpoints, Object.keys(s.endpoints).sort()) ===
          JSON.stringify(expected, Object.keys(expected).sort())
          ? s
          : undefined;
      },
      { what: 'Redis snapshot equal to what ZooKeeper holds', timeoutMs: 30_000, intervalMs: 200 },
    ).catch((e) => {
      const diff = Object.keys({ ...expected, ...last }).filter(
        (k) => JSON.stringify(expected[k]) !== JSON.stringify(last[k]),
      );
      throw new Error(
        `${(e as Error).message}; differing services: ${diff.map((k) => `${k} expected ${expected[k]?.join(' ')} got ${last[k]?.join(' ')}`).join('; ')}`,
      );
    });
  }

  before(async () => {
    servers = await startServers(makeRunDir('e2e-collector-ha'));
    mb = await pipeline(servers, {});
    mb.config.sources[0].leaderElection = { leaseMs: LEASE_MS };
    mb.config.sources[0].coalesceMs = 10;
    fs.writeFileSync(mb.configFile, JSON.stringify(mb.config));
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    churn = new Churn(dubbo);
    for (let i = 0; i < SERVICES; i++) {
      await churn.add(i);
      await churn.add(i);
    }
    redis = new Redis(servers.redis.url);
    replicas = new CollectorReplicas(mb, 'zk1');
    await mb.start('projector');
    await startReplica('replica-a');
    await startReplica('replica-b');
  });

  after(async () => {
    await churn?.stop();
    dubbo?.close();
    redis?.disconnect();
    await replicas?.stopAll();
    await mb?.stop();
    await servers?.stop();
  });

  it('exactly one replica leads; the other stands by', async () => {
    const l = await leader();
    const other = replicas.all.find((r) => r !== l)!;
    const s = await leaderState(other);
    assert.equal(s?.leading, false);
    await assertFinalSnapshotExact();
  });

  it('kill -9 of the leader mid-churn: the standby takes over within seconds, the snapshot ends exactly right', async () => {
    const old = await leader();
    const oldEpoch = (await leaderState(old))!.epoch!;
    churn.start();
    await waitFor(() => churn.ops >= 100, { what: 'churn under way', timeoutMs: 10_000 });
    await old.proc.kill();
    const t0 = performance.now();
    const next = await leader();
    const failoverMs = performance.now() - t0;
    const newEpoch = (await leaderState(next))!.epoch!;
    await waitFor(() => churn.ops >= 400, { what: 'more churn after the failover', timeoutMs: 20_000 });
    await churn.stop();
    const { epochs } = await assertFinalSnapshotExact();
    console.log(
      `# failover after kill -9: ${failoverMs.toFixed(0)} ms (lease ${LEASE_MS} ms); ${churn.ops} registry changes; epochs ${oldEpoch} -> ${newEpoch}`,
    );
    assert.ok(failoverMs < LEASE_MS * 2 + 3000, `failover took ${failoverMs} ms`);
    assert.ok(newEpoch > oldEpoch, 'the new leader has a larger fencing epoch');
    assert.ok(
      epochs.every((e) => e === newEpoch),
      `every partition has seen the new epoch: ${epochs}`,
    );
  });

  it('a paused leader (a zombie) is superseded and fenced: after it wakes up it publishes nothing', async () => {
    await startReplica('replica-c');
    const zombie = await leader();
    const zombieEpoch = (await leaderState(zombie))!.epoch!;
    const offsetsBefore = fs.readFileSync(zombie.proc.logFile, 'utf8').length;
    churn.start();
    zombie.proc.signal('SIGSTOP');
    const t0 = performance.now();
    const next = await replicas.leader({ except: zombie });
    const takeoverMs = performance.now() - t0;
    const opsAtWake = churn.ops + 150;
    await waitFor(() => churn.ops >= opsAtWake, { what: 'churn while the zombie sleeps', timeoutMs: 20_000 });
    zombie.proc.signal('SIGCONT');
    // The zombie steps down (its lease is gone) and must not overwrite anything the new leader published.
    await waitFor(async () => (await leaderState(zombie))?.leading === false, {
      what: 'the zombie to step down',
      timeoutMs: 10_000,
    });
    await waitFor(() => churn.ops >= opsAtWake + 150, { what: 'churn after the zombie woke', timeoutMs: 20_000 });
    await churn.stop();
    const { epochs } = await assertFinalSnapshotExact();
    const newEpoch = (await leaderState(next))!.epoch!;
    assert.ok(newEpoch > zombieEpoch);
    assert.ok(epochs.every((e) => e === newEpoch));
    const zombieLog = fs.readFileSync(zombie.proc.logFile, 'utf8').slice(offsetsBefore);
    assert.match(zombieLog, /no longer leading source/);
    console.log(`# takeover from a paused leader: ${takeoverMs.toFixed(0)} ms`);
  });
});
