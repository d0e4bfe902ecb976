import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import type { Config } from '../../services/shared/config.ts';
import { redisConnectionOptions } from '../../services/shared/redis-client.ts';
import { monotonicMs } from '../../services/shared/monotonic.ts';
import { tickOf } from './leader-election.ts';
import { SLOT, type RenewalWorkerData } from './lease-keeper.ts';

/**
 * Keeps a held lease alive from its own thread. The collector's main thread renews the lease itself, but a full read
 * of a big registry can keep that thread from running for longer than the lease (seen at 50,000 services × 10: the
 * watchdog stepped down mid-load and the next leader re-read everything). This thread only extends the lease the main
 * thread says it leads, with the same epoch — it never takes a free lease or another holder's — and only while the
 * main thread's heartbeat is fresh, so a wedged process still loses the source within `livenessMs` plus the lease.
 */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

const data = workerData as RenewalWorkerData & { cfg: Config };
const shared = new BigInt64Array(data.shared);
const redis = new Redis(data.cfg.redis.url, {
  ...redisConnectionOptions(data.cfg),
  connectionName: `meshbridge-lease-${data.sourceId}`,
  maxRetriesPerRequest: 1,
  retryStrategy: (times) => Math.min(100 * times, 1000),
});
redis.on('error', () => undefined); // the main thread reports Redis trouble; here a failed renewal is just skipped

let stopped = false;
parentPort?.on('message', (m: 'stop') => {
  if (m !== 'stop') return;
  stopped = true;
  redis.disconnect();
});

async function loop(): Promise<void> {
  while (!stopped) {
    const epoch = Atomics.load(shared, SLOT.leading);
    const beat = Number(Atomics.load(shared, SLOT.heartbeat));
    const sentAt = monotonicMs();
    if (epoch > 0n && sentAt - beat < data.livenessMs) {
      const held = await redis
        .eval(RENEW, 1, data.leaseKey, `${data.collectorId}|${epoch}`, String(data.leaseMs))
        .catch(() => 0);
      // Published only if the main thread still leads that epoch (it may have stepped down meanwhile).
      if (held === 1 && Atomics.load(shared, SLOT.leading) === epoch) {
        Atomics.store(shared, SLOT.renewedEpoch, epoch);
        Atomics.store(shared, SLOT.renewedSentAt, BigInt(sentAt));
      }
    }
    await new Promise((r) => setTimeout(r, tickOf(data.leaseMs)));
  }
}
void loop();
