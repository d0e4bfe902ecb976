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

const zookeeperDubboSource = z.object({
  id: z.string().regex(/^[a-z0-9][-a-z0-9_.]{0,62}$/, 'source id: lower-case letters, digits, - _ . (max 63)'),
  kind: z.literal('zookeeper-dubbo'),
  connect: z.string().min(1, 'ZooKeeper connect string, e.g. 127.0.0.1:2181'),
  root: z.string().startsWith('/').default('/dubbo'),
  namespace: hostname.max(63).default('dubbo'),
  /** Host template over {interface}, {group}, {version}, {source}; the result is normalised to a DNS name. */
  hostTemplate: z.string().min(1).default('{interface}'),
  /** Service port; by default the lowest port among providers (stable under churn in the usual one-port fleet). */
  servicePort: z.number().int().min(1).max(65535).optional(),
  includeDisabled: z.boolean().default(false),
  includeZeroWeight: z.boolean().default(false),
  sessionTimeoutMs: z.number().int().min(1000).default(10_000),
  resyncIntervalMs: z.number().int().min(1000).default(300_000),
  coalesceMs: z.number().int().min(0).max(5000).default(20),
});

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
  sources: z.array(zookeeperDubboSource).min(1, 'configure at least one registry source'),
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
  }).default({ groupId: 'meshbridge-projector', httpHost: '127.0.0.1', httpPort: 9102, changeStreamLength: 10_000 }),
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

/** Environment overrides: name -> [path, parser]. */
const ENV: Record<string, [string[], (v: string) => unknown]> = {
  MESHBRIDGE_KAFKA_BROKERS: [['kafka', 'brokers'], (v) => v.split(',').map((s) => s.trim()).filter(Boolean)],
  MESHBRIDGE_KAFKA_TOPIC: [['kafka', 'topic'], String],
  MESHBRIDGE_REDIS_URL: [['redis', 'url'], String],
  MESHBRIDGE_REDIS_PREFIX: [['redis', 'prefix'], String],
  MESHBRIDGE_COLLECTOR_ID: [['collector', 'id'], String],
  MESHBRIDGE_COLLECTOR_HTTP_PORT: [['collector', 'httpPort'], Number],
  MESHBRIDGE_PROJECTOR_HTTP_PORT: [['projector', 'httpPort'], Number],
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
