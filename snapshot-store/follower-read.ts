import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.ts';

// KEYS of the SYNC script: 1 version 2 resources 3 changes 4 complete 5 lineage
// Everything changed since lastId (ARGV[1]), read atomically with the version it belongs to; RELOAD when the stream
// no longer holds lastId (we fell behind its retention) or the lineage is not ARGV[2] (Redis lost data, or a rebuild
// switched over). Reads the change records' up/rm fields (change-record.ts).
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

/** The whole snapshot at one version, and the change stream position it corresponds to. */
export interface FullRead {
  version: number;
  complete: boolean;
  lineage: string;
  /** Change stream id of the last record this state includes ('0-0' when the stream is empty). */
  lastId: string;
  resources: Map<string, Buffer>;
}

/** Resources changed since a stream position: new bytes, or an empty buffer for a removed resource. */
export type SyncRead =
  | { status: 'NONE' }
  | { status: 'RELOAD' }
  | { status: 'OK'; version: number; complete: boolean; lastId: string; changed: [field: string, bytes: Buffer][] };

type Scripted = {
  meshbridgeSyncBuffer(...a: string[]): Promise<Buffer[]>;
};

/** The reader's side of the snapshot store (gateways): a full atomic load, then incremental syncs. */
export class SnapshotReader {
  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
  ) {
    redis.defineCommand('meshbridgeSync', { numberOfKeys: 5, lua: SYNC });
  }

  private get scripts(): Scripted {
    return this.redis as unknown as Scripted;
  }
  private get k(): string[] {
    return [this.keys.version, this.keys.resources, this.keys.changes, this.keys.complete, this.keys.lineage];
  }

  /**
   * Version, completeness, lineage, the change stream position and every resource in one atomic step: a MULTI/EXEC
   * transaction (one round trip, nothing runs between its commands). Not a Lua script: a script copies the whole
   * resources hash into a Lua table and again into its reply, which made the load about twice as slow on the Redis side
   * (10,000 resources of 1 KiB: ~51 ms of Redis time per load as a script, ~22 ms as a plain HGETALL).
   */
  async load(): Promise<FullRead> {
    const k = this.keys;
    const replies = await this.redis
      .multi()
      .getBuffer(k.version)
      .getBuffer(k.complete)
      .getBuffer(k.lineage)
      .xrevrange(k.changes, '+', '-', 'COUNT', 1)
      .callBuffer('HGETALL', k.resources)
      .exec();
    // ioredis's reply parser holds the buffer of the last reply it parsed until the next reply arrives: without a
    // next reply this whole load (the size of the snapshot) stays referenced by an idle connection after the snapshot
    // has moved its bytes elsewhere (the gateway's shared messages). A PING is that next reply; nothing waits for it.
    this.redis.ping().catch(() => undefined);
    if (!replies) throw new Error(`snapshot load from redis (${k.resources}): transaction discarded`);
    for (const [err] of replies) if (err) throw new Error(`snapshot load from redis (${k.resources}): ${err.message}`);
    const [version, complete, lineage, last, all] = replies.map(([, r]) => r) as [
      Buffer | null,
      Buffer | null,
      Buffer | null,
      [id: string, fields: string[]][],
      Buffer[] | Record<string, Buffer>,
    ];
    const resources = new Map<string, Buffer>();
    if (Array.isArray(all)) {
      for (let i = 0; i < all.length; i += 2) resources.set(all[i]!.toString(), all[i + 1]!);
    } else {
      // ioredis's HGETALL reply transformer (an object) when it applies to this call too.
      for (const [f, b] of Object.entries(all)) resources.set(f, b);
    }
    return {
      version: Number(version?.toString() ?? '0'),
      complete: complete?.toString() === '1',
      lineage: lineage?.toString() ?? '',
      lastId: last[0]?.[0] ?? '0-0',
      resources,
    };
  }

  async syncSince(lastId: string, lineage: string): Promise<SyncRead> {
    const raw = await this.scripts.meshbridgeSyncBuffer(...this.k, lastId, lineage);
    const status = raw[0]!.toString();
    if (status === 'NONE' || status === 'RELOAD') return { status };
    const changed: [string, Buffer][] = [];
    for (let i = 4; i < raw.length; i += 2) changed.push([raw[i]!.toString(), raw[i + 1]!]);
    return {
      status: 'OK',
      version: Number(raw[1]!.toString()),
      complete: raw[2]!.toString() === '1',
      lastId: raw[3]!.toString(),
      changed,
    };
  }
}
