import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../shared/keys.ts';
import type { Logger } from '../shared/log.ts';
import { buildSnapshot, type Snapshot } from './snapshot.ts';

// Reads version, completeness, lineage, the change stream position and every resource in one atomic step.
const LOAD = `
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local lastId = '0-0'
if #last > 0 then lastId = last[1][1] end
local out = {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[4]) or '0', redis.call('GET', KEYS[5]) or '', lastId}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all do out[#out + 1] = all[i] end
return out
`;

// Everything changed since lastId, read atomically with the version it belongs to; RELOAD when the stream no longer
// holds lastId (we fell behind its retention) or the lineage changed (Redis lost data, or a rebuild switched over).
const SYNC = `
if (redis.call('GET', KEYS[5]) or '') ~= ARGV[2] then return {'RELOAD'} end
if ARGV[1] ~= '0-0' and #redis.call('XRANGE', KEYS[3], ARGV[1], ARGV[1]) == 0 then return {'RELOAD'} end
local entries = redis.call('XRANGE', KEYS[3], '(' .. ARGV[1], '+')
if #entries == 0 then return {'NONE'} end
local seen, out = {}, {'OK', redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[4]) or '0', entries[#entries][1]}
for _, e in ipairs(entries) do
  local f = e[2]
  for j = 1, #f, 2 do
    if (f[j] == 'up' or f[j] == 'rm') and f[j + 1] ~= '' then
      for name in string.gmatch(f[j + 1], '[^\\n]+') do
        if not seen[name] then
          seen[name] = true
          out[#out + 1] = name
          out[#out + 1] = redis.call('HGET', KEYS[2], name) or ''
        end
      end
    end
  end
end
return out
`;

export interface FollowerEvents { snapshot: [Snapshot] }

/**
 * Keeps an in-memory snapshot in step with Redis: a full atomic load at start (and whenever it falls behind or the
 * lineage changes), then incremental syncs driven by the change stream. Emits a new immutable Snapshot per change.
 * Never replaces a complete snapshot with an incomplete one (a Redis that lost its data must not empty the mesh).
 */
export class RedisFollower extends EventEmitter<FollowerEvents> {
  private snap: Snapshot | undefined;
  private lastId = '0-0';
  private stopped = false;
  private loop: Promise<void> | undefined;
  lastSyncAt = 0;
  headVersion = 0;

  constructor(private readonly redis: Redis, private readonly blocking: Redis, private readonly keys: RedisKeys, private readonly log: Logger) {
    super();
    for (const r of [redis]) {
      r.defineCommand('meshbridgeLoad', { numberOfKeys: 5, lua: LOAD });
      r.defineCommand('meshbridgeSync', { numberOfKeys: 5, lua: SYNC });
    }
  }

  get current(): Snapshot | undefined { return this.snap; }

  private get k(): string[] {
    return [this.keys.version, this.keys.resources, this.keys.changes, this.keys.complete, this.keys.lineage];
  }

  async load(): Promise<void> {
    const raw = (await (this.redis as unknown as { meshbridgeLoadBuffer(...a: string[]): Promise<Buffer[]> }).meshbridgeLoadBuffer(...this.k));
    const [v, c, lineage, lastId] = raw.slice(0, 4).map((b) => b.toString());
    const resources = new Map<string, Buffer>();
    for (let i = 4; i < raw.length; i += 2) resources.set(raw[i]!.toString(), raw[i + 1]!);
    const next = buildSnapshot(Number(v), lineage!, c === '1', resources);
    this.headVersion = next.version;
    this.lastSyncAt = Date.now();
    if (this.snap?.complete && !next.complete) {
      this.log.warn({ served: this.snap.version, redisVersion: next.version }, 'redis snapshot is incomplete (lost data or rebuilding); keep serving the last complete snapshot');
      this.lastId = lastId!;
      this.pendingLineage = lineage!;
      return;
    }
    if (this.snap?.complete && next.lineage === this.snap.lineage && next.version < this.snap.version) {
      // Redis lost its last writes (kill -9 with AOF everysec): what it holds is older than what istiods already
      // have. Serving it would move them back in time; keep the newer snapshot until the projector has re-committed
      // past it (its versions never go below one it saw), then load that.
      if (!this.behind) this.log.warn({ served: this.snap.version, redisVersion: next.version }, 'redis is behind the snapshot we serve (it lost its last writes); keep serving ours until it has moved past it');
      this.lastId = lastId!;
      this.behind = true;
      return;
    }
    if (this.behind) this.log.info({ version: next.version, served: this.snap?.version }, 'redis has moved past the snapshot we served');
    this.behind = false;
    this.lastId = lastId!;
    this.pendingLineage = undefined;
    this.publish(next);
    this.log.info({ version: next.version, complete: next.complete, resources: resources.size, lineage }, 'snapshot loaded from redis');
  }

  /** True while Redis holds an older version of our lineage than we serve (it lost writes): reload until it passes. */
  private behind = false;

  /** While serving an older complete snapshot, the lineage we track in Redis (incomplete so far). */
  private pendingLineage: string | undefined;

  /** True while Redis holds a different, still incomplete lineage (lost data, rebuild) and we keep the last complete one. */
  get awaitingRebuild(): boolean { return this.pendingLineage !== undefined; }

  async sync(): Promise<void> {
    const lineage = this.pendingLineage ?? this.snap?.lineage ?? '';
    const raw = (await (this.redis as unknown as { meshbridgeSyncBuffer(...a: string[]): Promise<Buffer[]> }).meshbridgeSyncBuffer(...this.k, this.lastId, lineage));
    const status = raw[0]!.toString();
    this.lastSyncAt = Date.now();
    if (status === 'NONE') return;
    if (status === 'RELOAD' || this.pendingLineage !== undefined || this.behind || !this.snap) {
      if (status === 'RELOAD') this.log.info({ lastId: this.lastId }, 'change stream cannot be followed from our position; reloading the full snapshot');
      return this.load();
    }
    const version = Number(raw[1]!.toString());
    const complete = raw[2]!.toString() === '1';
    this.lastId = raw[3]!.toString();
    const resources = new Map(this.snap.resources);
    const touched: string[] = [];
    for (let i = 4; i < raw.length; i += 2) {
      const name = raw[i]!.toString();
      const value = raw[i + 1]!;
      touched.push(name);
      if (value.length === 0) resources.delete(name);
      else resources.set(name, value);
    }
    this.headVersion = version;
    this.publish(buildSnapshot(version, this.snap.lineage, complete, resources, this.snap, touched));
  }

  private publish(s: Snapshot): void {
    this.snap = s;
    this.emit('snapshot', s);
  }

  /** Follows the change stream until stop(): a blocking XREAD wakes us, the atomic SYNC script reads the change. */
  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.blocking.xread('BLOCK', 2000, 'STREAMS', this.keys.changes, this.lastId);
          if (this.stopped) break;
          await this.sync();
        } catch (e) {
          if (this.stopped) break;
          this.log.warn({ err: (e as Error).message }, 'following redis failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.blocking.disconnect();
    await this.loop;
  }
}
