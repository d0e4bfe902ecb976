import type { Redis } from 'ioredis';
import type { leaseKeys } from '../../snapshot-store/keys.ts';
import type { LeaseAnswer } from './leader-election.ts';

// KEYS: 1 lease key, 2 epoch counter. ARGV: 1 collector id, 2 lease ms, 3 wall-clock ms (epoch floor).
// Renews our own lease (same epoch) or takes a free one with a new epoch. The epoch is max(counter + 1, now): strictly
// increasing while Redis keeps the counter, and still above every earlier epoch if Redis lost it (and above the
// Date.now() epochs of collectors without leader election), so the projector never mistakes a new leader for an old one.
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local id, ep = string.match(cur, '^(.*)|(%d+)$')
  if id == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, ep, id}
  end
  return {0, ep or '0', id or cur}
end
local e = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
local es = string.format('%d', e)
if e < floor then
  es = ARGV[3]
  redis.call('SET', KEYS[2], es)
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. es, 'PX', ARGV[2])
return {1, es, ARGV[1]}
`;

// Releases the lease only if we still hold it with this epoch (a graceful shutdown hands over at once).
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export type LeaseKeys = ReturnType<typeof leaseKeys>;

export class RedisLease {
  constructor(
    private readonly redis: Redis,
    private readonly keys: LeaseKeys,
    private readonly collectorId: string,
    private readonly leaseMs: number,
  ) {}

  async acquire(now = Date.now()): Promise<LeaseAnswer> {
    const [held, epoch, holder] = (await this.redis.eval(
      ACQUIRE,
      2,
      this.keys.lease,
      this.keys.epoch,
      this.collectorId,
      String(this.leaseMs),
      String(now),
    )) as [number, string, string];
    return { held: held === 1, epoch: Number(epoch), holder };
  }

  async release(epoch: number): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.keys.lease, `${this.collectorId}|${epoch}`);
  }
}
