import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../services/shared/config.ts';
import { createKafka } from '../../services/shared/kafka-client.ts';
import { redisConnectionOptions } from '../../services/shared/redis-client.ts';
import { redisKeys } from '../../snapshot-store/keys.ts';
import type { Cut, CutResult } from './cut-replay.ts';
import { replayTopic } from './replay-topic.ts';
import { readTopic, topicRanges, type PartitionRange } from './topic-reader.ts';
import { formatOffsets, parsePoint, PointError, type Point } from './points.ts';
import { readChangeRecords, readLiveSnapshot, type LiveSnapshot } from '../../snapshot-store/live-read.ts';
import type { ChangeRecord } from '../../snapshot-store/change-record.ts';
import { offsetsForVersion, timeOfVersion, versionForCut, type VersionMatch } from './version-map.ts';
import { renderYaml, toKubeList } from './render-yaml.ts';
import { HistoryTracker } from './history.ts';
import { diffSnapshots } from './instance-diff.ts';
import { compareSnapshots } from './verify.ts';
import { formatDiff, formatHistory, formatRegistryVerify, formatVerify } from './format-text.ts';
import type { RegistryReader } from '../../schemas/registry-read.ts';
import type { SourceConfig } from '../../services/shared/config.ts';
import { RegistryUnreadable } from '../../services/shared/errors.ts';
import { readLiveMesh } from './live-mesh.ts';
import { compareWithMesh, verifyWithSettle } from './registry-verify.ts';
import { Progress } from './progress.ts';

/** Exit codes: meaningful for `verify` in cron jobs and CI. */
export const EXIT = { OK: 0, MISMATCH: 1, USAGE: 2, CANNOT_VERIFY: 3 } as const;

/** verify --registry: comparisons at most, and the pause between them (time for changes in flight to land). */
export const REGISTRY_ROUNDS = 3;
export const REGISTRY_SETTLE_MS = 2000;

export const AUDIT_USAGE = `audit (read the topic from the beginning; human-readable output, --json for machines):
  replay [--until <point>] [-o file] [--no-redis]
                rebuild the snapshot as of a point from the topic alone and print it as kubectl-style YAML,
                with the live snapshot version it corresponds to
  history <host|namespace/host|registry service> [--until <point>]
                every event that touched one service: source, collector, order token, what it changed, what was ignored and why
  diff <point> <point>
                what changed in the mesh between two points (instance level)
  verify        prove the live snapshot in Redis equals the replay of the topic up to the offsets stored with it
                (exit 0 equal, 1 different, 3 cannot verify)
  verify --registry
                read every configured registry afresh and compare it with the live snapshot, per source and mesh host
                (missing in the mesh, extra in the mesh, endpoints that differ); what differs is read again after a
                settle (up to ${REGISTRY_ROUNDS} rounds ${REGISTRY_SETTLE_MS / 1000} s apart) and only what persists is reported
                (exit 0 equal, 1 different, 3 cannot verify: a registry or Redis unreachable, no live snapshot)
  points: 2025-06-01T12:00:00Z | 0:120,1:98,2:131 (offsets per partition, exclusive) | v42 (a live version) | now
`;

class UsageError extends Error {}
class CannotVerify extends Error {}

interface Ctx {
  cfg: Config;
  kafka: Kafka;
  json: boolean;
  out: (text: string) => void;
  redis?: Redis;
  noRedis: boolean;
  readRegistry: RegistryReader<SourceConfig>;
}

const parseAuditArgs = (argv: string[]) =>
  parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean' },
      until: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'no-redis': { type: 'boolean' },
      registry: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });

/** What audit needs from other roles, given by the caller (bin/cli.ts): audit imports no other service. */
export interface AuditDeps {
  readRegistry: RegistryReader<SourceConfig>;
}

export async function runAudit(command: string, argv: string[], cfg: Config, deps: AuditDeps): Promise<number> {
  let parsed: ReturnType<typeof parseAuditArgs>;
  try {
    parsed = parseAuditArgs(argv);
  } catch (e) {
    process.stderr.write(`meshbridge ${command}: ${(e as Error).message}\n\n${AUDIT_USAGE}`);
    return EXIT.USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(AUDIT_USAGE);
    return EXIT.OK;
  }
  // Logs go to stderr: stdout carries the YAML/JSON an operator pipes somewhere.
  const log = pino({ level: process.env.MESHBRIDGE_LOG_LEVEL ?? 'warn', base: { role: 'audit' } }, pino.destination(2));
  const outFile = values.output;
  const chunks: string[] = [];
  const ctx: Ctx = {
    cfg,
    kafka: createKafka(cfg, log, 'audit'),
    json: Boolean(values.json),
    noRedis: Boolean(values['no-redis']),
    out: (t) => {
      if (outFile) chunks.push(t);
      else process.stdout.write(t);
    },
    readRegistry: deps.readRegistry,
  };
  try {
    let code: number;
    if (values.registry && command !== 'verify') throw new UsageError('--registry is an option of verify');
    switch (command) {
      case 'replay':
        code = await replayCommand(ctx, point(values.until ?? 'now'), positionals);
        break;
      case 'history':
        code = await historyCommand(ctx, positionals, values.until);
        break;
      case 'diff':
        code = await diffCommand(ctx, positionals);
        break;
      case 'verify':
        code = values.registry ? await verifyRegistryCommand(ctx, positionals) : await verifyCommand(ctx, positionals);
        break;
      default:
        throw new UsageError(`unknown audit command ${command}`);
    }
    if (outFile) fs.writeFileSync(outFile, chunks.join(''));
    return code;
  } catch (e) {
    if (e instanceof UsageError || e instanceof PointError) {
      process.stderr.write(`meshbridge ${command}: ${e.message}\n`);
      return EXIT.USAGE;
    }
    if (e instanceof CannotVerify) {
      process.stderr.write(`meshbridge verify: cannot verify: ${e.message}\n`);
      return EXIT.CANNOT_VERIFY;
    }
    throw e;
  } finally {
    ctx.redis?.disconnect();
  }
}

function point(text: string): Point {
  return parsePoint(text);
}

/** Redis is optional for replay/history/diff (version numbers only); fail fast instead of retrying forever. */
async function redisOf(ctx: Ctx, required: boolean): Promise<Redis | undefined> {
  if (ctx.noRedis && !required) return undefined;
  if (ctx.redis) return ctx.redis;
  const r = new Redis(ctx.cfg.redis.url, {
    ...redisConnectionOptions(ctx.cfg),
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 1,
    retryStrategy: (n) => (n > 2 ? null : 200),
    enableOfflineQueue: false,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    ctx.redis = r;
    return r;
  } catch (e) {
    r.disconnect();
    if (required) throw new CannotVerify(`Redis ${ctx.cfg.redis.url} unreachable: ${(e as Error).message}`);
    process.stderr.write(
      `meshbridge: Redis ${ctx.cfg.redis.url} unreachable (${(e as Error).message}); snapshot versions unknown\n`,
    );
    return undefined;
  }
}

interface LiveInfo {
  records: ChangeRecord[];
  live: LiveSnapshot;
}

async function liveInfo(ctx: Ctx, partitions: number[]): Promise<LiveInfo | undefined> {
  const redis = await redisOf(ctx, false);
  if (!redis) return undefined;
  const keys = redisKeys(ctx.cfg.redis.prefix);
  const [live, records] = await Promise.all([
    readLiveSnapshot(redis, keys, partitions),
    readChangeRecords(redis, keys),
  ]);
  return { live, records };
}

/** Turns a point into a cut over this topic's partitions, and the per-partition read ends it needs. */
function cutOf(p: Point, ranges: PartitionRange[], info: LiveInfo | undefined): { cut: Cut; note?: string } {
  switch (p.kind) {
    case 'end':
      return { cut: { kind: 'end' } };
    case 'time':
      return { cut: { kind: 'time', timeMs: p.timeMs } };
    case 'offsets': {
      const missing = ranges.filter((r) => !p.offsets.has(r.partition)).map((r) => r.partition);
      if (missing.length > 0)
        throw new UsageError(
          `offsets for partition${missing.length > 1 ? 's' : ''} ${missing.join(',')} missing in "${p.text}": name every partition (the topic has ${ranges.length})`,
        );
      for (const r of ranges) {
        if (p.offsets.get(r.partition)! > r.high)
          throw new UsageError(
            `partition ${r.partition} ends at offset ${r.high}; cannot replay to ${p.offsets.get(r.partition)}`,
          );
      }
      return { cut: { kind: 'offsets', offsets: p.offsets } };
    }
    case 'version': {
      if (!info) throw new UsageError(`a version (${p.text}) can only be resolved through the change stream in Redis`);
      if (p.version === info.live.version)
        return {
          cut: { kind: 'offsets', offsets: completeOffsets(info.live.offsets, ranges) },
          note: 'offsets stored with the live snapshot',
        };
      if (p.version > info.live.version)
        throw new UsageError(`version ${p.version} does not exist yet (live is ${info.live.version})`);
      const exact = offsetsForVersion(info.records, p.version, completeOffsets(info.live.offsets, ranges));
      if (exact) return { cut: { kind: 'offsets', offsets: exact }, note: 'offsets from the change stream' };
      const t = timeOfVersion(info.records, p.version);
      if (t === undefined)
        throw new UsageError(
          `version ${p.version} is no longer in the change stream (oldest kept: ${info.records[0]?.version ?? 'none'}); name a time instead`,
        );
      return {
        cut: { kind: 'time', timeMs: t },
        note: `events up to its commit time ${new Date(t).toISOString()} (approximate: the change records around this version carry no offsets, e.g. written by an older projector or a rebuild's switch-over)`,
      };
    }
  }
}

const completeOffsets = (o: Map<number, bigint>, ranges: PartitionRange[]) =>
  new Map(ranges.map((r) => [r.partition, o.get(r.partition) ?? 0n]));

function warnTruncated(ranges: PartitionRange[]): void {
  const cut = ranges.filter((r) => r.low > 0n);
  if (cut.length > 0) {
    process.stderr.write(
      `meshbridge: WARNING: retention deleted the oldest events (${cut.map((r) => `partition ${r.partition} starts at ${r.low}`).join(', ')}): this replay is not the whole history\n`,
    );
  }
}

function versionText(m: VersionMatch | undefined, lineage?: string): string {
  if (!m) return 'unknown (no Redis consulted)';
  if (m.version === null) return `none (${m.note})`;
  return `${m.version}${lineage ? ` (lineage ${lineage})` : ''} — by ${m.method}: ${m.note}`;
}

async function replayCommand(ctx: Ctx, until: Point, positionals: string[]): Promise<number> {
  if (positionals.length > 0)
    throw new UsageError(`replay takes no positional arguments (got ${positionals.join(' ')}); use --until`);
  const ranges = await topicRanges(ctx.kafka, ctx.cfg.kafka.topic);
  warnTruncated(ranges);
  const info = await liveInfo(
    ctx,
    ranges.map((r) => r.partition),
  );
  const { cut, note } = cutOf(until, ranges, info);
  const {
    results: [res],
    stats: [replayStats],
    seconds,
  } = await replayTopic(ctx.kafka, ctx.cfg.kafka.topic, ranges, [cut], 'replay');
  const stats = replayStats!;
  const match = info ? versionForCut(info.records, res!, info.live) : undefined;
  if (ctx.json) {
    ctx.out(
      JSON.stringify(
        {
          topic: ctx.cfg.kafka.topic,
          until: until.text,
          ...(note ? { untilNote: note } : {}),
          offsets: Object.fromEntries([...res!.offsets].map(([p, o]) => [p, o.toString()])),
          version: match?.version ?? null,
          versionMethod: match?.method ?? 'none',
          versionNote: match?.note ?? 'no Redis consulted',
          lineage: info?.live.lineage ?? null,
          stats: {
            events: res!.events,
            applied: stats.applied,
            ignored: stats.ignored,
            bySchema: stats.bySchema,
            undecodable: stats.undecodable.map((u) => ({ ...u, offset: u.offset.toString() })),
            seconds,
          },
          ...toKubeList(res!.resources),
        },
        null,
        2,
      ) + '\n',
    );
    return EXIT.OK;
  }
  const schemas = Object.entries(stats.bySchema)
    .map(([s, n]) => `${s.replace(/^registry-event\.|\.avsc$/g, '')} ${n}`)
    .join(', ');
  ctx.out(
    renderYaml(res!.resources, [
      `meshbridge replay of topic ${ctx.cfg.kafka.topic} until ${until.text}${note ? ` (${note})` : ''}`,
      `cut at offsets ${formatOffsets(res!.offsets)}: ${res!.events} events (writer schemas: ${schemas || 'none'}), ${stats.applied} applied, ${stats.ignored} ignored, ${stats.undecodable.length} undecodable`,
      `snapshot version: ${versionText(match, info?.live.lineage)}`,
      `${res!.resources.size} ServiceEntries`,
    ]),
  );
  return EXIT.OK;
}

async function historyCommand(ctx: Ctx, positionals: string[], untilText: string | undefined): Promise<number> {
  if (positionals.length !== 1)
    throw new UsageError(
      "history takes exactly one service: a mesh host, namespace/host, or the registry's service name",
    );
  const arg = positionals[0]!;
  const ranges = await topicRanges(ctx.kafka, ctx.cfg.kafka.topic);
  warnTruncated(ranges);
  const until = point(untilText ?? 'now');
  const info =
    until.kind === 'version'
      ? await liveInfo(
          ctx,
          ranges.map((r) => r.partition),
        )
      : undefined;
  const { cut } = cutOf(until, ranges, info);
  const ends =
    cut.kind === 'offsets'
      ? new Map(ranges.map((r) => [r.partition, cut.offsets.get(r.partition)!]))
      : new Map(ranges.map((r) => [r.partition, r.high]));
  const tracker = new HistoryTracker(arg);
  const progress = new Progress(
    'history',
    ranges.reduce((n, r) => n + Number(ends.get(r.partition)! - r.low), 0),
  );
  await readTopic(ctx.kafka, {
    topic: ctx.cfg.kafka.topic,
    ends,
    onBatch: (p, messages) => {
      const upTo = cut.kind === 'time' ? messages.findIndex((m) => m.timestamp > cut.timeMs) : -1;
      tracker.feed(p, upTo >= 0 ? messages.slice(0, upTo) : messages);
      progress.add(messages.length);
      return upTo >= 0 ? 'stop' : 'more';
    },
  });
  progress.end();
  // One service lives in one partition; several keys (same registry service in two namespaces) interleave by time.
  const records = [...tracker.records].sort((a, b) =>
    a.time < b.time
      ? -1
      : a.time > b.time
        ? 1
        : a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
  );
  if (ctx.json)
    ctx.out(JSON.stringify({ service: arg, keys: [...tracker.keys], events: tracker.events, records }, null, 2) + '\n');
  else ctx.out(formatHistory(arg, [...tracker.keys], records));
  return EXIT.OK;
}

async function diffCommand(ctx: Ctx, positionals: string[]): Promise<number> {
  if (positionals.length !== 2)
    throw new UsageError('diff takes two points: diff <time|version|offsets> <time|version|offsets>');
  const [a, b] = positionals.map(point) as [Point, Point];
  const ranges = await topicRanges(ctx.kafka, ctx.cfg.kafka.topic);
  warnTruncated(ranges);
  const info = await liveInfo(
    ctx,
    ranges.map((r) => r.partition),
  );
  const ca = cutOf(a, ranges, info);
  const cb = cutOf(b, ranges, info);
  const {
    results: [ra, rb],
  } = await replayTopic(ctx.kafka, ctx.cfg.kafka.topic, ranges, [ca.cut, cb.cut], 'diff');
  const changes = diffSnapshots(ra!.resources, rb!.resources);
  const va = info ? versionForCut(info.records, ra!, info.live) : undefined;
  const vb = info ? versionForCut(info.records, rb!, info.live) : undefined;
  const side = (p: Point, r: CutResult, v: VersionMatch | undefined) => ({
    point: p.text,
    offsets: formatOffsets(r.offsets),
    version: v?.version ?? null,
    versionNote: v?.note ?? 'no Redis consulted',
    resources: r.resources.size,
  });
  if (ctx.json) {
    ctx.out(JSON.stringify({ from: side(a, ra!, va), to: side(b, rb!, vb), changes }, null, 2) + '\n');
    return EXIT.OK;
  }
  const name = (p: Point, r: CutResult, v: VersionMatch | undefined) =>
    `${p.text}${v?.version != null ? ` (v${v.version})` : ''} [${formatOffsets(r.offsets)}]`;
  ctx.out(formatDiff(name(a, ra!, va), name(b, rb!, vb), changes));
  return EXIT.OK;
}

async function verifyCommand(ctx: Ctx, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('verify takes no positional arguments');
  const ranges = await topicRanges(ctx.kafka, ctx.cfg.kafka.topic).catch((e: Error) => {
    throw new CannotVerify(`Kafka: ${e.message}`);
  });
  const truncated = ranges.filter((r) => r.low > 0n);
  if (truncated.length > 0)
    throw new CannotVerify(
      `retention deleted events (${truncated.map((r) => `partition ${r.partition} starts at ${r.low}`).join(', ')}); the topic no longer proves anything about the snapshot`,
    );
  const redis = (await redisOf(ctx, true))!;
  const keys = redisKeys(ctx.cfg.redis.prefix);
  const partitions = ranges.map((r) => r.partition);
  const live = await readLiveSnapshot(redis, keys, partitions);
  if (live.offsets.size === 0 && live.resources.size === 0)
    throw new CannotVerify(`no live snapshot under Redis prefix ${ctx.cfg.redis.prefix} (no partition offsets stored)`);
  const context = [
    `live snapshot: version ${live.version}, lineage ${live.lineage || '(none)'}, ${live.complete ? 'complete' : 'NOT complete (a source has not finished its first resync)'}, ${live.resources.size} resources`,
    `stored offsets: ${formatOffsets(completeOffsets(live.offsets, ranges))} (topic ${ctx.cfg.kafka.topic} ends at ${ranges.map((r) => `${r.partition}:${r.high}`).join(',')})`,
  ];
  const beyond = ranges.filter((r) => (live.offsets.get(r.partition) ?? 0n) > r.high);
  if (beyond.length > 0) {
    const text = `MISMATCH: Redis claims to have consumed past the end of the topic (${beyond.map((r) => `partition ${r.partition}: stored ${live.offsets.get(r.partition)}, topic ends at ${r.high}`).join('; ')}): wrong topic, or the topic was recreated`;
    ctx.out(
      ctx.json ? JSON.stringify({ equal: false, reason: text }, null, 2) + '\n' : [...context, text].join('\n') + '\n',
    );
    return EXIT.MISMATCH;
  }
  const offsets = completeOffsets(live.offsets, ranges);
  const {
    results: [res],
    stats: [stats],
    seconds,
  } = await replayTopic(ctx.kafka, ctx.cfg.kafka.topic, ranges, [{ kind: 'offsets', offsets }], 'verify');
  const outcome = compareSnapshots(live.resources, res!.resources);
  if (ctx.json) {
    ctx.out(
      JSON.stringify(
        {
          ...outcome,
          version: live.version,
          lineage: live.lineage,
          complete: live.complete,
          offsets: Object.fromEntries([...offsets].map(([p, o]) => [p, o.toString()])),
          events: stats!.events,
          seconds,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    context.push(`replayed ${stats!.events} events in ${seconds.toFixed(1)} s`);
    ctx.out(formatVerify(outcome, context));
  }
  return outcome.equal ? EXIT.OK : EXIT.MISMATCH;
}

/**
 * verify --registry: every configured registry read afresh (with the collector's own adapters and decider) against
 * the live snapshot in Redis, per source and mesh host; re-checked after a settle, only persisting differences count.
 * Kafka is not read: this catches what the log cannot (a live service deleted by an event that is in the log).
 */
const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function verifyRegistryCommand(ctx: Ctx, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('verify takes no positional arguments');
  const redis = (await redisOf(ctx, true))!;
  const keys = redisKeys(ctx.cfg.redis.prefix);
  let version = 0;
  let lineage = '';
  let complete = false;
  let resources = 0;
  const compare = async () => {
    // Registries first, then the snapshot: what the registries said has had the longest time to reach Redis.
    const reads = await Promise.allSettled(ctx.cfg.sources.map((src) => ctx.readRegistry(src)));
    const failed = reads.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failed.length > 0) {
      if (failed.every((e) => e instanceof RegistryUnreadable))
        throw new CannotVerify(failed.map((e) => e.message).join('; '));
      throw failed[0]!;
    }
    const live = await readLiveMesh(redis, keys).catch((e: Error) => {
      throw new CannotVerify(`Redis ${ctx.cfg.redis.url}: ${e.message}`);
    });
    if (live.version === 0 && live.entries.size === 0 && live.folds.size === 0) {
      throw new CannotVerify(
        `no live snapshot under Redis prefix ${ctx.cfg.redis.prefix} (no projector has written there)`,
      );
    }
    ({ version, lineage, complete } = live);
    resources = live.entries.size;
    return compareWithMesh(
      reads.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
      live,
    );
  };
  const started = performance.now();
  const outcome = await verifyWithSettle(compare, {
    rounds: REGISTRY_ROUNDS,
    settleMs: REGISTRY_SETTLE_MS,
    onRound: (round, c, items) => {
      const hosts = [...new Set(c.differences.map((d) => d.host))];
      process.stderr.write(
        `meshbridge verify --registry: round ${round} of ${REGISTRY_ROUNDS}: ${hosts.length === 1 ? '1 mesh host differs' : `${hosts.length} mesh hosts differ`} (${items} item${items === 1 ? '' : 's'}: ${hosts.slice(0, 5).join(', ')}${hosts.length > 5 ? ', …' : ''}); reading again in ${REGISTRY_SETTLE_MS / 1000} s\n`,
      );
    },
  });
  const seconds = (performance.now() - started) / 1000;
  if (ctx.json) {
    const { last, ...rest } = outcome;
    ctx.out(
      JSON.stringify(
        {
          ...rest,
          version,
          lineage,
          complete,
          resources,
          seconds,
          sources: last.sources,
          held: last.held,
          unconfiguredSources: last.unconfigured,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    const context = [
      ...outcome.last.sources.map(
        (s) =>
          `registry ${s.id} (${s.kind}): ${count(s.registryServices, 'registry service')} -> ${count(s.registryHosts, 'mesh host')}, ${count(s.registryEndpoints, 'endpoint')}; the mesh holds ${count(s.meshHosts, 'host')}, ${count(s.meshEndpoints, 'endpoint')} from ${s.id}`,
      ),
      `live snapshot: version ${version}, lineage ${lineage || '(none)'}, ${complete ? 'complete' : 'NOT complete (a source has not finished its first resync)'}, ${resources} resources`,
    ];
    const others = Object.entries(outcome.last.unconfigured);
    if (others.length > 0)
      context.push(
        `not compared: the mesh also holds hosts from sources not configured here: ${others.map(([s, n]) => `${s} (${n})`).join(', ')}`,
      );
    ctx.out(formatRegistryVerify(outcome, context, seconds));
  }
  return outcome.equal ? EXIT.OK : EXIT.MISMATCH;
}
