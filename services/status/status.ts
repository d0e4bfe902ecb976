import type { Kafka } from 'kafkajs';
import type { Config, EurekaSourceConfig } from '../../services/shared/config.ts';
import { eurekaPeers } from '../../services/shared/eureka-peers.ts';
import { createKafka } from '../../services/shared/kafka-client.ts';
import { createRedis } from '../../services/shared/redis-client.ts';
import { anyReachable } from '../../services/shared/dependency.ts';
import { redisKeys } from '../../snapshot-store/keys.ts';
import { hostNamespacesCheck } from './host-namespaces.ts';
import { createLogger } from '../../services/shared/log.ts';
import { errorText, redisAddress } from '../../services/shared/retry.ts';

/**
 * `meshbridge status`: one look at everything the pipeline depends on, as a table (or --json), with an exit code.
 *
 *   0  healthy: Kafka, Redis, every registry reachable; topics exist; snapshot complete; reachable roles ready
 *   1  degraded: checked, and something is wrong (a registry unreachable, a topic missing, snapshot incomplete,
 *      a role or gateway answering not ready, dead letters present)
 *   3  cannot check: Kafka or Redis unreachable, so the pipeline's state is unknown
 *  70  internal error of the tool itself;  78 invalid configuration (as every command)
 */
export type Outcome = 'ok' | 'warn' | 'fail' | 'unreachable' | 'skip';
export interface Check {
  check: string;
  outcome: Outcome;
  detail: string;
  core?: boolean;
}

export const STATUS_EXIT = { healthy: 0, degraded: 1, cannotCheck: 3, internal: 70 } as const;

/** Exit code of a list of checks. Pure. */
export function statusExit(checks: Check[]): number {
  if (checks.some((c) => c.core && c.outcome === 'unreachable')) return STATUS_EXIT.cannotCheck;
  if (checks.some((c) => c.outcome === 'fail' || c.outcome === 'unreachable')) return STATUS_EXIT.degraded;
  return STATUS_EXIT.healthy;
}

/** The table: one line per check, columns aligned. Pure. */
export function formatTable(checks: Check[]): string {
  const rows = [['CHECK', 'STATUS', 'DETAIL'], ...checks.map((c) => [c.check, c.outcome.toUpperCase(), c.detail])];
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return rows.map((r) => `${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r[2]}`.trimEnd()).join('\n') + '\n';
}

const verdict = (code: number) =>
  code === 0
    ? 'healthy'
    : code === 1
      ? 'degraded'
      : code === 3
        ? 'cannot check (Kafka or Redis unreachable)'
        : 'internal error';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export interface StatusOptions {
  json: boolean;
  gateways: string[];
  timeoutMs: number;
}

export function parseStatusArgs(args: string[]): StatusOptions {
  const o: StatusOptions = { json: false, gateways: [], timeoutMs: 10_000 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') o.json = true;
    else if (a === '--gateway') o.gateways.push(args[++i] ?? '');
    else if (a.startsWith('--gateway=')) o.gateways.push(a.slice('--gateway='.length));
    else if (a === '--timeout') o.timeoutMs = Number(args[++i]);
  }
  return o;
}

/** Runs every check; returns the exit code (prints the table or JSON on stdout). */
export async function runStatus(args: string[], cfg: Config): Promise<number> {
  const opts = parseStatusArgs(args);
  try {
    const checks = await collectChecks(cfg, opts);
    const code = statusExit(checks);
    if (opts.json)
      process.stdout.write(JSON.stringify({ status: verdict(code), exitCode: code, checks }, null, 2) + '\n');
    else process.stdout.write(`${formatTable(checks)}\n${verdict(code)}\n`);
    return code;
  } catch (e) {
    process.stderr.write(`meshbridge status: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return STATUS_EXIT.internal;
  }
}

async function collectChecks(cfg: Config, opts: StatusOptions): Promise<Check[]> {
  const t = opts.timeoutMs;
  const [kafka, redis, registries, roles] = await Promise.all([
    kafkaChecks(cfg, t),
    redisChecks(cfg, t),
    registryChecks(cfg, t),
    roleChecks(cfg, opts),
  ]);
  return [...kafka, ...redis, ...registries, ...roles];
}

async function kafkaChecks(cfg: Config, t: number): Promise<Check[]> {
  const address = cfg.kafka.brokers.join(',');
  try {
    await anyReachable(cfg.kafka.brokers, Math.min(t, 3_000));
  } catch (e) {
    return [{ check: 'kafka', outcome: 'unreachable', detail: `${address}: ${errorText(e)}`, core: true }];
  }
  const log = createLogger('status');
  log.level = 'silent';
  const kafka: Kafka = createKafka(cfg, log, 'status');
  const admin = kafka.admin();
  try {
    await withTimeout(admin.connect(), t, 'kafka');
    const cluster = await withTimeout(admin.describeCluster(), t, 'kafka');
    const out: Check[] = [
      {
        check: 'kafka',
        outcome: 'ok',
        detail: `${address}: ${cluster.brokers.length} broker(s), controller ${cluster.controller}`,
      },
    ];
    const topics = new Set(await withTimeout(admin.listTopics(), t, 'kafka topics'));
    for (const [label, topic] of [
      ['kafka topic', cfg.kafka.topic],
      ['kafka dead letters', cfg.kafka.deadLetterTopic],
    ] as const) {
      if (!topics.has(topic)) {
        out.push({
          check: label,
          outcome: label === 'kafka topic' ? 'fail' : 'warn',
          detail: `${topic} does not exist (created by the first collector or projector to start)`,
        });
        continue;
      }
      const md = await withTimeout(admin.fetchTopicMetadata({ topics: [topic] }), t, topic);
      const parts = md.topics[0]?.partitions ?? [];
      const leaderless = parts.filter((p) => p.leader < 0).length;
      const offsets = await withTimeout(admin.fetchTopicOffsets(topic), t, topic);
      const messages = offsets.reduce((n, o) => n + (Number(o.high) - Number(o.low)), 0);
      if (label === 'kafka topic') {
        out.push({
          check: label,
          outcome: leaderless > 0 ? 'fail' : 'ok',
          detail: `${topic}: ${parts.length} partitions${leaderless ? `, ${leaderless} without a leader` : ''}, ${messages} events retained`,
        });
      } else {
        out.push({
          check: label,
          outcome: messages > 0 ? 'warn' : 'ok',
          detail: `${topic}: ${messages} dead-lettered event(s)${messages > 0 ? ' — see docs/operations.md "Dead-letter growth"' : ''}`,
        });
      }
    }
    return out;
  } catch (e) {
    return [{ check: 'kafka', outcome: 'unreachable', detail: `${address}: ${errorText(e)}`, core: true }];
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function redisChecks(cfg: Config, t: number): Promise<Check[]> {
  const address = redisAddress(cfg.redis.url);
  const log = createLogger('status');
  log.level = 'silent';
  const redis = createRedis(cfg, log, 'status');
  redis.removeAllListeners('error');
  let lastError: Error | undefined;
  redis.on('error', (e: Error) => {
    lastError = e;
  });
  try {
    try {
      await withTimeout(redis.connect(), t, 'redis');
    } catch (e) {
      return [
        { check: 'redis', outcome: 'unreachable', detail: `${address}: ${errorText(lastError ?? e)}`, core: true },
      ];
    }
    const k = redisKeys(cfg.redis.prefix);
    // Field names only (no resource bytes, ~2 MB at 50,000 services): the count and the mesh-hosts check both read them.
    const [version, complete, lineage, fields] = await withTimeout(
      Promise.all([redis.get(k.version), redis.get(k.complete), redis.get(k.lineage), redis.hkeys(k.resources)]),
      t,
      'redis',
    );
    const out: Check[] = [{ check: 'redis', outcome: 'ok', detail: `${address}` }];
    if (version === null) {
      out.push({
        check: 'snapshot',
        outcome: 'fail',
        detail: `no snapshot under prefix ${cfg.redis.prefix} (projector not started yet, or Redis lost its data)`,
      });
    } else {
      out.push({
        check: 'snapshot',
        outcome: complete === '1' ? 'ok' : 'fail',
        detail: `version ${version}, ${fields.length} resources, ${complete === '1' ? 'complete' : 'INCOMPLETE (a first resync of some source is missing: gateways withhold ServiceEntries)'}, lineage ${lineage ?? '-'}`,
      });
      out.push(hostNamespacesCheck(fields));
    }
    return out;
  } catch (e) {
    return [{ check: 'redis', outcome: 'unreachable', detail: `${address}: ${errorText(e)}`, core: true }];
  } finally {
    redis.disconnect();
  }
}

async function registryChecks(cfg: Config, t: number): Promise<Check[]> {
  return Promise.all(
    cfg.sources.map(async (src): Promise<Check> => {
      const check = `registry ${src.id}`;
      try {
        if (src.kind === 'consul') {
          const res = await withTimeout(fetch(`${src.address}/v1/status/leader`), t, src.address);
          const leader = await res.text();
          if (!res.ok) return { check, outcome: 'fail', detail: `consul ${src.address}: HTTP ${res.status}` };
          return {
            check,
            outcome: leader.replace(/"/g, '') ? 'ok' : 'fail',
            detail: `consul ${src.address}: leader ${leader || 'none'}`,
          };
        }
        if (src.kind === 'eureka') return await eurekaCheck(check, src, t);
        if (src.kind === 'nacos') {
          const grpc = `${new URL(src.address).hostname}:${src.grpcPort ?? Number(new URL(src.address).port || 8848) + 1000}`;
          return {
            check,
            outcome: 'ok',
            detail: `nacos ${await anyReachable([grpc], Math.min(t, 3_000))} (gRPC) accepts connections`,
          };
        }
        const hosts = src.connect.split('/')[0]!.split(',');
        const reached = await anyReachable(hosts, Math.min(t, 3_000));
        return { check, outcome: 'ok', detail: `${src.kind} ${src.connect}: ${reached} accepts connections` };
      } catch (e) {
        const where = 'address' in src ? src.address : 'connect' in src ? src.connect : src.serviceUrls.join(',');
        return { check, outcome: 'unreachable', detail: `${src.kind} ${where}: ${errorText(e)}` };
      }
    }),
  );
}

/** The roles' own view where their ops endpoints answer (the configured addresses, plus --gateway URLs). */
async function roleChecks(cfg: Config, opts: StatusOptions): Promise<Check[]> {
  const hostOf = (h: string) => (h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h);
  const local = [
    ['collector', `http://${hostOf(cfg.collector.httpHost)}:${cfg.collector.httpPort}`],
    ['projector', `http://${hostOf(cfg.projector.httpHost)}:${cfg.projector.httpPort}`],
  ] as const;
  const gateways =
    opts.gateways.length > 0 ? opts.gateways : [`http://${hostOf(cfg.gateway.httpHost)}:${cfg.gateway.httpPort}`];
  const explicit = opts.gateways.length > 0;
  const roleCheck = async (role: string, base: string, required: boolean): Promise<Check[]> => {
    let ready: { status: number; body: { detail?: Record<string, unknown> } };
    try {
      const res = await withTimeout(fetch(`${base}/readyz`), Math.min(opts.timeoutMs, 3_000), base);
      ready = { status: res.status, body: (await res.json()) as { detail?: Record<string, unknown> } };
    } catch (e) {
      return [
        {
          check: role,
          outcome: required ? 'unreachable' : 'skip',
          detail: `${base}: ${required ? errorText(e) : 'not answering here (checked only where reachable)'}`,
        },
      ];
    }
    const missing =
      (ready.body.detail?.missing as { name: string; address: string; since: string }[] | undefined) ?? [];
    const out: Check[] = [
      {
        check: role,
        outcome: ready.status === 200 ? 'ok' : 'fail',
        detail: `${base}: ${ready.status === 200 ? 'ready' : 'NOT ready'}${missing.map((m) => `; missing ${m.name} at ${m.address} since ${m.since}`).join('')}`,
      },
    ];
    if (role.startsWith('gateway')) {
      try {
        const istiods = (await (
          await withTimeout(fetch(`${base}/debug/istiods`), Math.min(opts.timeoutMs, 3_000), base)
        ).json()) as { nodeId: string; types: Record<string, { lastVersion?: string; acked?: string }> }[];
        const served = Number(ready.body.detail?.version ?? 0);
        const lags = istiods.map((s) => {
          const acked = Object.entries(s.types)
            .filter(([t]) => /\/ServiceEntry$/.test(t))
            .map(([, v]) => Number(v.acked ?? 0));
          return acked.length ? served - Math.min(...acked) : served;
        });
        out.push({
          check: `${role} istiods`,
          outcome: 'ok',
          detail: `${istiods.length} connected${istiods.length ? `, acked version lag max ${Math.max(...lags)} (served v${served})` : ''}`,
        });
      } catch (e) {
        out.push({ check: `${role} istiods`, outcome: 'warn', detail: `/debug/istiods: ${errorText(e)}` });
      }
    }
    return out;
  };
  const all = await Promise.all([
    ...local.map(([role, base]) => roleCheck(role, base, false)),
    ...gateways.map((g, i) =>
      roleCheck(gateways.length > 1 ? `gateway ${i + 1}` : 'gateway', g.replace(/\/$/, ''), explicit),
    ),
  ]);
  return all.flat();
}

/** A Eureka source is reachable when one of its peers answers the (small) delta request. */
async function eurekaCheck(check: string, src: EurekaSourceConfig, t: number): Promise<Check> {
  const failures: string[] = [];
  for (const peer of eurekaPeers(src)) {
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (peer.authorization) headers.authorization = peer.authorization;
      const res = await withTimeout(fetch(`${peer.url}/apps/delta`, { headers }), t, peer.url);
      await res.text();
      if (res.ok) return { check, outcome: 'ok', detail: `eureka ${peer.url}: answers` };
      failures.push(`${peer.url}: HTTP ${res.status}`);
    } catch (e) {
      failures.push(`${peer.url}: ${errorText(e)}`);
    }
  }
  return { check, outcome: 'unreachable', detail: `eureka: no peer answers (${failures.join('; ')})` };
}
