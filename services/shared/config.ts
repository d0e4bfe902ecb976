import fs from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import YAML from 'yaml';
import { ConfigError } from './errors.ts';

/**
 * meshbridge configuration: a YAML/JSON file (`--config` or MESHBRIDGE_CONFIG) with environment overrides for the
 * connection keys. Validated once at start-up; every problem names its key.
 */
const hostname = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lower-case DNS name');

const sourceId = z.string().regex(/^[a-z0-9][-a-z0-9_.]{0,62}$/, 'source id: lower-case letters, digits, - _ . (max 63)');

/**
 * Leader election among collector replicas, per source (a Redis lease; the fencing epoch comes from Redis too).
 * Failover takes at most about one lease; a shorter lease fails over faster but tolerates shorter Redis/GC stalls.
 */
const leaderElection = z.object({
  enabled: z.boolean().default(true),
  leaseMs: z.number().int().min(1000).max(600_000).default(5000),
}).default({ enabled: true, leaseMs: 5000 });

/** What a service that suddenly reports zero instances becomes: published empty, or kept as last seen (metric). */
const emptyProtection = z.enum(['off', 'keep-last']).default('off');

/** Fields every source kind has. */
const sourceCommon = {
  id: sourceId,
  includeDisabled: z.boolean().default(false),
  includeZeroWeight: z.boolean().default(false),
  emptyProtection,
  resyncIntervalMs: z.number().int().min(1000).default(300_000),
  coalesceMs: z.number().int().min(0).max(5000).default(20),
  leaderElection,
};

const zookeeperDubboSource = z.object({
  ...sourceCommon,
  kind: z.literal('zookeeper-dubbo'),
  connect: z.string().min(1, 'ZooKeeper connect string, e.g. 127.0.0.1:2181'),
  /**
   * interface: Dubbo 2.x/3 interface-level registry (<root>/<interface>/providers/<url>).
   * application: Dubbo 3 application-level discovery (<servicesRoot>/<app>/<instance> JSON), one mesh service per app.
   */
  mode: z.enum(['interface', 'application']).default('interface'),
  root: z.string().startsWith('/').default('/dubbo'),
  /** Dubbo 3 application-level instances: <servicesRoot>/<app>/<ip:port> (application mode). */
  servicesRoot: z.string().startsWith('/').default('/services'),
  /**
   * Application mode: Dubbo's interface → application mapping (<mappingRoot>/<interface>, data "app1,app2"). When set,
   * every mapped interface is also published as a mesh service of its own (host from interfaceHostTemplate) whose
   * endpoints are the instances of its applications — interface-named hosts for providers that register only
   * application-level instances. Dubbo writes it under <registry group>/mapping, e.g. /dubbo/mapping.
   */
  mappingRoot: z.string().startsWith('/').optional(),
  interfaceHostTemplate: z.string().min(1).default('{interface}'),
  namespace: hostname.max(63).default('dubbo'),
  /** Host template over {interface} (or {app} in application mode), {group}, {version}, {source}; normalised to DNS. */
  hostTemplate: z.string().min(1).optional(),
  /** Service port; by default the lowest port among providers (stable under churn in the usual one-port fleet). */
  servicePort: z.number().int().min(1).max(65535).optional(),
  sessionTimeoutMs: z.number().int().min(1000).default(10_000),
});

/** Maps tags or service/node meta to endpoint labels. `match` is a full-match regex over the tag or the meta key;
 *  `label` and `value` are String.replace templates over that match ($1, $<name>); defaults: the meta key / its value,
 *  for tags group 1 / group 2 (or "true"). */
const labelRule = z.object({
  from: z.enum(['tag', 'service-meta', 'node-meta']),
  match: z.string().min(1).refine((r) => { try { new RegExp(r); return true; } catch { return false; } }, 'not a valid regular expression'),
  label: z.string().min(1).optional(),
  value: z.string().optional(),
});
export type LabelRule = z.infer<typeof labelRule>;

const consulSource = z.object({
  ...sourceCommon,
  kind: z.literal('consul'),
  address: z.string().regex(/^https?:\/\/[^/]+$/, 'http(s)://host:port of a Consul agent').default('http://127.0.0.1:8500'),
  /** ACL token (or tokenFile); MESHBRIDGE_CONSUL_TOKEN_<ID> overrides it (id upper-cased, non-alphanumerics as _). */
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  /** Datacenter to read; default: the agent's own. Becomes the endpoints' locality (region). */
  datacenter: z.string().regex(/^[A-Za-z0-9_-]+$/, 'a Consul datacenter name').optional(),
  /** Node meta key whose value becomes the locality's zone (region/zone); none by default. */
  zoneNodeMeta: z.string().optional(),
  namespace: hostname.max(63).default('consul'),
  /** Host template over {service}, {datacenter}, {source}; normalised to a DNS name. */
  hostTemplate: z.string().min(1).default('{service}'),
  /** passing: only instances whose checks all pass (default); warning: passing or warning; any: ignore health. */
  health: z.enum(['passing', 'warning', 'any']).default('passing'),
  /** Consul service names to leave out (full-match regexes). The agent's own `consul` service by default. */
  excludeServices: z.array(z.string()).default(['consul']),
  /** Service meta key naming the protocol (http, http2, grpc, tcp, ...); unknown or absent → defaultProtocol. */
  protocolMeta: z.string().default('protocol'),
  defaultProtocol: z.enum(['HTTP', 'HTTP2', 'HTTPS', 'GRPC', 'GRPC-Web', 'TCP', 'TLS', 'UDP', 'Mongo', 'Redis', 'MySQL']).default('TCP'),
  labelRules: z.array(labelRule).default([
    { from: 'service-meta', match: 'version' },
    { from: 'tag', match: '([A-Za-z0-9][-A-Za-z0-9_./]*)=(.*)', label: '$1', value: '$2' },
  ]),
  servicePort: z.number().int().min(1).max(65535).optional(),
  /** Blocking query wait (Consul caps it at 10 min). */
  blockWaitSeconds: z.number().int().min(1).max(600).default(60),
});

const sourceSchema = z.discriminatedUnion('kind', [zookeeperDubboSource, consulSource]);

export const configSchema = z.object({
  kafka: z.object({
    brokers: z.array(z.string().regex(/^[^:]+:\d+$/, 'host:port')).min(1),
    topic: z.string().min(1).default('meshbridge.registry-events'),
    deadLetterTopic: z.string().min(1).default('meshbridge.registry-events.dlq'),
    partitions: z.number().int().min(1).max(1000).default(6),
    /** -1 keeps every event forever: the topic is the system of record. */
    retentionMs: z.number().int().min(-1).default(-1),
    maxMessageBytes: z.number().int().min(1_048_576).default(16_777_216),
    compression: z.enum(['none', 'gzip']).default('gzip'),
    clientId: z.string().default('meshbridge'),
  }),
  redis: z.object({
    url: z.string().regex(/^rediss?:\/\//, 'redis://host:port'),
    prefix: z.string().regex(/^[A-Za-z0-9_.:-]+$/).default('meshbridge'),
  }),
  sources: z.array(sourceSchema).min(1, 'configure at least one registry source').superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((s, i) => {
      if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate source id "${s.id}"` });
      seen.add(s.id);
    });
  }),
  collector: z.object({
    id: z.string().default(`${os.hostname()}-${process.pid}`),
    httpHost: z.string().default('127.0.0.1'),
    httpPort: z.number().int().min(0).max(65535).default(9101),
  }).default({ id: `${os.hostname()}-${process.pid}`, httpHost: '127.0.0.1', httpPort: 9101 }),
  projector: z.object({
    groupId: z.string().default('meshbridge-projector'),
    httpHost: z.string().default('127.0.0.1'),
    httpPort: z.number().int().min(0).max(65535).default(9102),
    /** Change records kept in the Redis stream; a gateway further behind reloads the full snapshot. */
    changeStreamLength: z.number().int().min(100).default(10_000),
    /**
     * Most events folded and committed to Redis in one atomic step. Larger steps coalesce more events of one service
     * into one rebuild and one write (the fold's main saving); smaller ones keep each Redis transaction short.
     */
    maxBatchEvents: z.number().int().min(1).max(200_000).default(20_000),
  }).default({ groupId: 'meshbridge-projector', httpHost: '127.0.0.1', httpPort: 9102, changeStreamLength: 10_000, maxBatchEvents: 20_000 }),
  gateway: z.object({
    grpcHost: z.string().default('0.0.0.0'),
    grpcPort: z.number().int().min(0).max(65535).default(15020),
    httpHost: z.string().default('127.0.0.1'),
    httpPort: z.number().int().min(0).max(65535).default(9103),
    debounceMs: z.number().int().min(0).max(10_000).default(50),
    /** Namespaces served to istiods (empty: all); `revisions` overrides it per ISTIO_REVISION (services/xds-gateway/view.ts). */
    namespaces: z.array(hostname.max(63)).default([]),
    revisions: z.record(z.string(), z.array(hostname.max(63))).default({}),
    /** Server certificate (istiod ≥1.26 configSources[].tlsSettings mode SIMPLE); plaintext when absent. */
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
  }).default({ grpcHost: '0.0.0.0', grpcPort: 15020, httpHost: '127.0.0.1', httpPort: 9103, debounceMs: 50, namespaces: [], revisions: {} }),
});

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config['sources'][number];
export type ZooKeeperDubboSourceConfig = Extract<SourceConfig, { kind: 'zookeeper-dubbo' }>;
export type ConsulSourceConfig = Extract<SourceConfig, { kind: 'consul' }>;

/** Environment overrides: name -> [path, parser]. */
const ENV: Record<string, [string[], (v: string) => unknown]> = {
  MESHBRIDGE_KAFKA_BROKERS: [['kafka', 'brokers'], (v) => v.split(',').map((s) => s.trim()).filter(Boolean)],
  MESHBRIDGE_KAFKA_TOPIC: [['kafka', 'topic'], String],
  MESHBRIDGE_REDIS_URL: [['redis', 'url'], String],
  MESHBRIDGE_REDIS_PREFIX: [['redis', 'prefix'], String],
  MESHBRIDGE_COLLECTOR_ID: [['collector', 'id'], String],
  MESHBRIDGE_COLLECTOR_HTTP_PORT: [['collector', 'httpPort'], Number],
  MESHBRIDGE_PROJECTOR_HTTP_PORT: [['projector', 'httpPort'], Number],
  MESHBRIDGE_PROJECTOR_MAX_BATCH_EVENTS: [['projector', 'maxBatchEvents'], Number],
  MESHBRIDGE_GATEWAY_GRPC_PORT: [['gateway', 'grpcPort'], Number],
  MESHBRIDGE_GATEWAY_HTTP_PORT: [['gateway', 'httpPort'], Number],
  MESHBRIDGE_GATEWAY_DEBOUNCE_MS: [['gateway', 'debounceMs'], Number],
};

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof cur[key] !== 'object' || cur[key] === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/** Validates a raw config object; throws ConfigError listing every offending key. */
export function parseConfig(raw: unknown, origin = 'configuration'): Config {
  const res = configSchema.safeParse(raw);
  if (res.success) return res.data;
  const problems = res.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message} (in ${origin})`);
  throw new ConfigError(problems);
}

export function loadConfig(file: string | undefined = process.env.MESHBRIDGE_CONFIG, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError([`config file ${file}: ${(e as Error).message}`]);
    }
    try {
      raw = (YAML.parse(text) ?? {}) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError([`config file ${file}: not valid YAML/JSON: ${(e as Error).message}`]);
    }
  }
  for (const [name, [path, parse]] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, path, parse(v));
  }
  return parseConfig(raw, file ? `${file} + MESHBRIDGE_* environment` : 'MESHBRIDGE_* environment');
}
