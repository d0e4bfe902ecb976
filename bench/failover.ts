/**
 * Collector failover benchmark: real ZooKeeper, Kafka and Redis; BENCH_SERVICES Dubbo interfaces × 2 providers;
 * two `meshbridge collector` replicas with the DEFAULT leader-election settings; registry churn at BENCH_RATE
 * changes/s throughout; then BENCH_ROUNDS times: kill -9 of the leader (and a fresh replica started as the next
 * standby), measuring
 *   - kill → the first event the new leader appended to Kafka (broker append time; it publishes changes again), and
 *   - kill → the new leader reports its full re-read done (/readyz: leading, resynced).
 *
 *   npm run bench:failover     (BENCH_SERVICES=500 BENCH_RATE=100 BENCH_ROUNDS=10)
 *
 * Writes bench/results/failover.json.
 */
import os from 'node:os';
import { makeRunDir } from '../harness/paths.ts';
import { startServers, pipeline } from '../harness/stack.ts';
import { EventTail } from '../harness/event-tail.ts';
import { waitFor } from '../harness/wait.ts';
import { DubboRegistrar } from '../harness/dubbo-registrar.ts';
import { CollectorReplicas } from '../harness/collector-replicas.ts';
import { configSchema } from '../services/shared/config.ts';
import { writeResult, machineInfo } from './support.ts';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 500);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], p50: pct(s, 50), p90: pct(s, 90), max: s[s.length - 1], all: xs };
};

async function main(): Promise<void> {
  const runDir = makeRunDir('bench-failover');
  const servers = await startServers(runDir);
  const mb = await pipeline(servers, {});
  const defaults = configSchema.parse({
    kafka: { brokers: ['x:1'] },
    redis: { url: 'redis://x:1' },
    sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: 'x:1' }],
  });
  const leaseMs = defaults.sources[0]!.leaderElection.leaseMs;
  const dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
  const replicas = new CollectorReplicas(mb, 'zk1');
  let tail: EventTail | undefined;
  try {
    log(`registering ${SERVICES} services × 2 providers`);
    const providers: string[][] = [];
    for (let i = 0; i < SERVICES; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, SERVICES - i) }, async (_, k) => {
          providers[i + k] = [
            await dubbo.register(`org.fo.S${i + k}`, `10.90.${(i + k) >> 8}.${(i + k) & 0xff}`, 20880),
            await dubbo.register(`org.fo.S${i + k}`, `10.91.${(i + k) >> 8}.${(i + k) & 0xff}`, 20880),
          ];
        }),
      );
    }
    await replicas.start('r0');
    await replicas.start('r1');
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
    await replicas.leader({ timeoutMs: 60_000 });
    let running = true;
    let n = 0;
    const churn = (async () => {
      while (running) {
        const i = Math.floor(Math.random() * SERVICES);
        const list = providers[i]!;
        if (list.length > 1 && Math.random() < 0.5) await dubbo.unregister(list.pop()!);
        else list.push(await dubbo.register(`org.fo.S${i}`, `10.92.${(n >> 8) & 0xff}.${n & 0xff}`, 20881 + (n >> 16)));
        n++;
        await new Promise((r) => setTimeout(r, 1000 / RATE));
      }
    })();
    const publish: number[] = [];
    const resynced: number[] = [];
    const loads: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const leader = await replicas.leader({ timeoutMs: 60_000 });
      const oldEpoch = (await replicas.status(leader))!.epoch!;
      await new Promise((r) => setTimeout(r, 1500)); // churn under way with this leader
      const killAt = Date.now();
      await leader.proc.kill();
      const next = await replicas.leader({ except: leader, timeoutMs: 60_000 });
      const resyncMs = Date.now() - killAt;
      const first = await waitFor(
        () => tail!.events.find((e) => e.event.epoch > oldEpoch && e.event.kind !== 'RESYNC_END'),
        { what: "the new leader's first event", timeoutMs: 30_000, intervalMs: 20 },
      );
      publish.push(first.appendedAt - killAt);
      resynced.push(resyncMs);
      loads.push(os.loadavg()[0]!);
      log(
        `round ${round}: kill -9 → new leader's first event ${first.appendedAt - killAt} ms, re-read done ${resyncMs} ms (load ${os.loadavg()[0]!.toFixed(1)}; ${next.id})`,
      );
      await replicas.start(`r${round + 1}`);
    }
    running = false;
    await churn;
    const result = {
      date: new Date().toISOString(),
      machine: machineInfo({
        loadAverage: summary(loads.map((l) => Math.round(l * 10) / 10)),
      }),
      workload: {
        services: SERVICES,
        providersPerService: 2,
        changesPerSecond: RATE,
        rounds: ROUNDS,
        leaseMs,
        replicas: 2,
        changesMade: n,
      },
      killToFirstEventMs: summary(publish),
      killToResyncedMs: summary(resynced),
      target: { killToFirstEventMs: 3000, met: Math.max(...publish) <= 3000 },
    };
    const out = writeResult('failover.json', result);
    log(
      `kill -9 → first event: p50 ${result.killToFirstEventMs.p50} ms, p90 ${result.killToFirstEventMs.p90} ms, max ${result.killToFirstEventMs.max} ms; re-read done p50 ${result.killToResyncedMs.p50} ms, max ${result.killToResyncedMs.max} ms (lease ${leaseMs} ms) → ${out}`,
    );
  } finally {
    await tail?.close();
    dubbo.close();
    await replicas.stopAll();
    await mb.stop();
    await servers.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
