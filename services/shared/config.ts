import fs from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import YAML from 'yaml';
import { ISTIO_PROTOCOL_NAMES } from '../../schemas/istio-rules.ts';
import { ConfigError } from './errors.ts';
import { fullMatchProblem } from './full-match.ts';
import { HOST_TEMPLATE_VARS, hostTemplateProblem, type TemplateVars } from './host-template.ts';

/**
 * meshbridge configuration: a YAML/JSON file (`--config` or MESHBRIDGE_CONFIG) with environment overrides for the
 * connection keys. Validated once at start-up; every problem names its key.
 */
/** Optimal-string-alignment edit distance (insertions, deletions, substitutions, adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word` (case-insensitive), if it is near enough to be a plausible typo: at most 2 edits,
 * or a third of the word for long keys. Ties go to the first candidate.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** "unknown key; did you mean "x"?" — or the valid keys when none is near. */
function unknownKeyMessage(key: string, valid: readonly string[], elsewhere?: string): string {
  const near = nearest(key, valid);
  if (elsewhere) return `unknown key here (${elsewhere})${near ? `; did you mean "${near}"?` : ''}`;
  if (near) return `unknown key; did you mean "${near}"?`;
  return `unknown key; valid keys: ${valid.join(', ')}`;
}

/**
 * zod reports all unknown keys of one object as one issue; its message carries one line per key (`key<TAB>message`),
 * which parseConfig turns into one problem per key, each with its full path.
 */
const UNKNOWN_KEYS = 'unrecognized_keys';
function strict<T extends z.ZodRawShape>(shape: T) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === UNKNOWN_KEYS
        ? (iss.keys as string[]).map((k) => `${k}\t${unknownKeyMessage(k, valid)}`).join('\n')
        : undefined,
  });
}

/** A file meshbridge must be able to read at start-up (secrets, CA and client certificates). */
const readableFile = z
  .string()
  .min(1, 'a file path')
  .superRefine((file, ctx) => {
    try {
      if (!fs.statSync(file).isFile())
        throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      ctx.addIssue({
        code: 'custom',
        message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      });
    }
  });

/** A secret read from a file: the file's contents without the trailing newline; an empty file is an error. */
function readSecret(file: string, ctx: z.RefinementCtx, key: string): string {
  try {
    const v = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (v === '') ctx.addIssue({ code: 'custom', path: [key], message: `${file} is empty` });
    return v;
  } catch (e) {
    ctx.addIssue({
      code: 'custom',
      path: [key],
      message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    });
    return '';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Cross-field rules run even when a field of the object is invalid, so every problem shows at once. */
const always = { when: () => true };

/** `password` or `passwordFile`, not both. */
function oneSecret(v: unknown, ctx: z.RefinementCtx, required: boolean): void {
  if (!isObject(v)) return;
  if (v.password !== undefined && v.passwordFile !== undefined)
    ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'set password or passwordFile, not both' });
  else if (required && v.password === undefined && v.passwordFile === undefined)
    ctx.addIssue({ code: 'custom', path: ['password'], message: 'required (or passwordFile)' });
}

/** TLS towards a data store: the CA that signed its certificate (system CAs when absent), an optional client pair. */
const tlsClient = strict({
  /** PEM CA bundle trusted for the server's certificate; Node's built-in CAs when absent. */
  caFile: readableFile.optional(),
  /** Client certificate and key (PEM) for servers that require mutual TLS. Both or neither. */
  certFile: readableFile.optional(),
  keyFile: readableFile.optional(),
  /** Name checked against the server certificate and sent as SNI; by default the host connected to. */
  servername: z.string().min(1).optional(),
  /** false skips verification of the server's certificate — for tests only. */
  rejectUnauthorized: z.boolean().default(true),
}).superRefine((v, ctx) => {
  if (!isObject(v)) return;
  if ((v.certFile === undefined) !== (v.keyFile === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [v.certFile === undefined ? 'certFile' : 'keyFile'],
      message: 'certFile and keyFile go together (client certificate and its key)',
    });
  }
}, always);
export type TlsClientConfig = z.infer<typeof tlsClient>;

const hostname = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lower-case DNS name');

const sourceId = z
  .string()
  .regex(/^[a-z0-9][-a-z0-9_.]{0,62}$/, 'source id: lower-case letters, digits, - _ . (max 63)');

/**
 * Leader election among collector replicas, per source (a Redis lease; the fencing epoch comes from Redis too).
 * Failover takes about one lease plus lease/8: the 2 s default has a standby publishing within 3 s of a kill -9
 * (bench:failover) and tolerates Redis or event-loop stalls of up to ~1.8 s before the leader steps down (it then
 * takes the lease again under a new epoch and re-reads; nothing is lost). Raise it where longer stalls are normal.
 */
const leaderElection = strict({
  enabled: z.boolean().default(true),
  leaseMs: z.number().int().min(1000).max(600_000).default(2000),
}).prefault({});

/** What a service that suddenly reports zero instances becomes: published empty, or kept as last seen (metric). */
const emptyProtection = z.enum(['off', 'keep-last']).default('off');

/** Fields every source kind has. */
const sourceCommon = {
  id: sourceId,
  includeDisabled: z.boolean().default(false),
  includeZeroWeight: z.boolean().default(false),
  /**
   * Publish instances registered at a loopback address (127.0.0.0/8, ::1). Off: in a mesh such an endpoint is the
   * caller's own host, so it is skipped as bad registry data. On only where registry, providers and clients share one
   * host (the local stack, tests).
   */
  allowLoopback: z.boolean().default(false),
  emptyProtection,
  resyncIntervalMs: z.number().int().min(1000).default(300_000),
  coalesceMs: z.number().int().min(0).max(5000).default(20),
  leaderElection,
};

/** A host template over `vars` (services/shared/host-template.ts): known placeholders, and one that names the service. */
const hostTemplate = (vars: TemplateVars) =>
  z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      const problem = hostTemplateProblem(t, vars);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

/** A full-match regular expression (services/shared/full-match.ts); the error says what the JavaScript parser saw. */
const fullMatchPattern = z
  .string()
  .min(1)
  .superRefine((r, ctx) => {
    const problem = fullMatchProblem(r);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Maps tags or service/node meta to endpoint labels. `match` is a full-match regex over the tag or the meta key;
 *  `label` and `value` are String.replace templates over that match ($1, $<name>); defaults: the meta key / its value,
 *  for tags group 1 / group 2 (or "true"). */
const labelRule = strict({
  from: z.enum(['tag', 'service-meta', 'node-meta']),
  match: fullMatchPattern,
  label: z.string().min(1).optional(),
  value: z.string().optional(),
});
export type LabelRule = z.infer<typeof labelRule>;

/**
 * Dubbo label rules: `from: param` reads a provider URL's parameters (interface mode), `from: metadata` an instance's
 * metadata (application mode); otherwise as Consul's `service-meta` rules.
 */
const dubboLabelRule = labelRule.extend({ from: z.enum(['param', 'metadata']) });
export type DubboLabelRule = z.infer<typeof dubboLabelRule>;

const zookeeperDubboSource = strict({
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
  /** Host template over {interface}, {group}, {version}, {source} (application mode: {app}, {source}); normalised to DNS. */
  hostTemplate: z.string().min(1).optional(),
  /** Service port; by default the lowest port among providers (stable under churn in the usual one-port fleet). */
  servicePort: z.number().int().min(1).max(65535).optional(),
  sessionTimeoutMs: z.number().int().min(1000).default(10_000),
  /**
   * Reads per second of the periodic full re-read (every resyncIntervalMs, the safety net for a missed watch); the
   * re-reads at start-up and after a reconnect run at full speed. 500/s re-reads 50,000 interfaces in 100 s instead of
   * taking ZooKeeper's and the collector's CPU for ~18 s at once (docs/collectors.md, "Periodic re-read").
   */
  periodicResyncReadsPerSecond: z.number().int().min(1).default(500),
  /**
   * Provider URL parameters (interface mode, `from: param`) or instance metadata (application mode, `from: metadata`)
   * to endpoint labels, as Consul's meta rules. Absent: the mode's defaults (normalise-dubbo.ts DUBBO_LABEL_RULES);
   * a list replaces them.
   */
  labelRules: z.array(dubboLabelRule).optional(),
}).superRefine((v, ctx) => {
  // Which placeholders a template knows depends on the mode, so the templates are checked here, not per field.
  if (!isObject(v)) return;
  const application = v.mode === 'application';
  const checks: [string, unknown, TemplateVars][] = [
    [
      'hostTemplate',
      v.hostTemplate,
      application ? HOST_TEMPLATE_VARS.dubboApplication : HOST_TEMPLATE_VARS.dubboInterface,
    ],
    ['interfaceHostTemplate', v.interfaceHostTemplate, HOST_TEMPLATE_VARS.dubboMappedInterface],
  ];
  for (const [key, template, vars] of checks) {
    const problem = typeof template === 'string' ? hostTemplateProblem(template, vars) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
  }
  // What a rule can read depends on the mode too: URL parameters exist only in interface mode, metadata only in
  // application mode. A rule for the other mode would silently label nothing.
  const readable = application ? 'metadata' : 'param';
  if (!Array.isArray(v.labelRules)) return;
  v.labelRules.forEach((r, i) => {
    // An unknown `from` is the enum's error already.
    if (isObject(r) && (r.from === 'param' || r.from === 'metadata') && r.from !== readable)
      ctx.addIssue({
        code: 'custom',
        path: ['labelRules', i, 'from'],
        message: application
          ? 'application mode labels from instance metadata: use from: metadata'
          : 'interface mode labels from provider URL parameters: use from: param (metadata is for mode: application)',
      });
  });
}, always);

const consulSource = strict({
  ...sourceCommon,
  kind: z.literal('consul'),
  address: z
    .string()
    .regex(/^https?:\/\/[^/]+$/, 'http(s)://host:port of a Consul agent')
    .default('http://127.0.0.1:8500'),
  /** ACL token (or tokenFile); MESHBRIDGE_CONSUL_TOKEN_<ID> overrides it (id upper-cased, non-alphanumerics as _). */
  token: z.string().optional(),
  tokenFile: readableFile.optional(),
  /** Datacenter to read; default: the agent's own. Becomes the endpoints' locality (region). */
  datacenter: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'a Consul datacenter name')
    .optional(),
  /** Node meta key whose value becomes the locality's zone (region/zone); none by default. */
  zoneNodeMeta: z.string().optional(),
  namespace: hostname.max(63).default('consul'),
  /** Host template over {service}, {datacenter}, {source}; normalised to a DNS name. */
  hostTemplate: hostTemplate(HOST_TEMPLATE_VARS.consul).default('{service}'),
  /** passing: only instances whose checks all pass (default); warning: passing or warning; any: ignore health. */
  health: z.enum(['passing', 'warning', 'any']).default('passing'),
  /** Consul service names to leave out (full-match regexes). The agent's own `consul` service by default. */
  excludeServices: z.array(fullMatchPattern).default(['consul']),
  /** Service meta key naming the protocol (http, http2, grpc, tcp, ...); unknown or absent → defaultProtocol. */
  protocolMeta: z.string().default('protocol'),
  defaultProtocol: z.enum(ISTIO_PROTOCOL_NAMES).default('TCP'),
  labelRules: z.array(labelRule).default([
    { from: 'service-meta', match: 'version' },
    { from: 'tag', match: '([A-Za-z0-9][-A-Za-z0-9_./]*)=(.*)', label: '$1', value: '$2' },
  ]),
  servicePort: z.number().int().min(1).max(65535).optional(),
  /** Blocking query wait (Consul caps it at 10 min). */
  blockWaitSeconds: z.number().int().min(1).max(600).default(60),
});

/** Eureka label rules read instance metadata (`from: metadata`); otherwise as Consul's. */
const eurekaLabelRule = labelRule.extend({ from: z.literal('metadata') });
export type EurekaLabelRule = z.infer<typeof eurekaLabelRule>;

const eurekaSource = strict({
  ...sourceCommon,
  kind: z.literal('eureka'),
  /** Eureka peers' service URLs as Eureka clients write them (`defaultZone`), tried in order on failure. */
  serviceUrls: z
    .array(z.string().regex(/^https?:\/\/[^/]+(\/.*)?$/, 'http(s)://host:port/eureka of a Eureka server'))
    .min(1)
    .default(['http://127.0.0.1:8761/eureka']),
  /** HTTP basic auth (or user:password@ in a service URL). */
  username: z.string().optional(),
  password: z.string().optional(),
  passwordFile: readableFile.optional(),
  namespace: hostname.max(63).default('eureka'),
  /** Host template over {app} (Eureka's application name), {vip} (the instances' vipAddress), {source}. */
  hostTemplate: hostTemplate(HOST_TEMPLATE_VARS.eureka).default('{app}'),
  /** Instance statuses that become endpoints (Eureka's own clients route to UP only). */
  statuses: z
    .array(z.enum(['UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN']))
    .min(1)
    .default(['UP']),
  /** Which of an instance's ports become service ports: every enabled one, or only the (non-)secure one. */
  ports: z.enum(['enabled', 'non-secure', 'secure']).default('enabled'),
  /** Metadata key naming the non-secure port's protocol (http, grpc, tcp, ...); unknown or absent → defaultProtocol. */
  protocolMetadata: z.string().default('protocol'),
  defaultProtocol: z.enum(ISTIO_PROTOCOL_NAMES).default('HTTP'),
  labelRules: z.array(eurekaLabelRule).default([{ from: 'metadata', match: 'version' }]),
  /** Application names to leave out (full-match regexes). */
  excludeApps: z.array(fullMatchPattern).default([]),
  /** The endpoints' locality region; with it, the metadata key zoneMetadata gives the zone (region/zone). */
  region: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'a region name')
    .optional(),
  zoneMetadata: z.string().default('zone'),
  servicePort: z.number().int().min(1).max(65535).optional(),
  /** How often the delta is read (Eureka's own clients: 30 s). */
  refreshIntervalMs: z.number().int().min(100).max(600_000).default(5000),
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
});

/** Nacos label rules: like Consul's, over an instance's metadata (`from: metadata`, the only source Nacos has). */
const nacosLabelRule = strict({
  from: z.literal('metadata').default('metadata'),
  match: labelRule.shape.match,
  label: z.string().min(1).optional(),
  value: z.string().optional(),
});

/** Nacos 2.x/3.x over its gRPC API (docs/collectors.md, "Nacos"). */
const nacosObject = strict({
  ...sourceCommon,
  kind: z.literal('nacos'),
  /** http(s)://host:port of the server's HTTP port (login); the gRPC API is on grpcPort. */
  address: z
    .string()
    .regex(/^https?:\/\/[^/]+$/, 'http(s)://host:port of a Nacos server (its HTTP port, 8848 by default)')
    .default('http://127.0.0.1:8848'),
  /** Nacos's gRPC SDK port; by default the HTTP port + 1000, as Nacos itself. */
  grpcPort: z.number().int().min(1).max(65535).optional(),
  /** Context path of the HTTP API (login). */
  contextPath: z
    .string()
    .regex(/^\/[^?#]*$|^$/, 'a path such as /nacos')
    .default('/nacos'),
  /** Auth: username + password (or passwordFile) logs in for an access token; or a fixed accessToken. */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  passwordFile: readableFile.optional(),
  accessToken: z.string().min(1).optional(),
  /** Nacos namespace ids to read ('public' is the default namespace) and, in each, the groups. */
  nacosNamespaces: z.array(z.string().min(1)).min(1).default(['public']),
  groups: z.array(z.string().min(1)).min(1).default(['DEFAULT_GROUP']),
  /** Nacos service names to leave out (full-match regexes); Dubbo's consumer registrations by default. */
  excludeServices: z.array(fullMatchPattern).default(['consumers:.*']),
  /** Only instances of these clusters (all when empty). */
  clusters: z.array(z.string().min(1)).default([]),
  namespace: hostname.max(63).default('nacos'),
  /**
   * Host template over {service}, {group}, {nacosNamespace}, {source}; normalised to a DNS name.
   */
  hostTemplate: hostTemplate(HOST_TEMPLATE_VARS.nacos).default('{service}'),
  /**
   * Host template of Dubbo interface-level registrations (services named providers:<interface>:<version>:<group>),
   * over {interface} (dots kept), {version}, {dubboGroup}, {group}, {nacosNamespace}, {source}.
   */
  interfaceHostTemplate: hostTemplate(HOST_TEMPLATE_VARS.nacosInterface).default('{interface}'),
  /** Instances with healthy=false are left out unless this is true. */
  includeUnhealthy: z.boolean().default(false),
  /** Metadata key naming the protocol (http, grpc, dubbo, tri, ...); unknown or absent → defaultProtocol. */
  protocolMeta: z.string().default('protocol'),
  defaultProtocol: z.enum(ISTIO_PROTOCOL_NAMES).default('TCP'),
  labelRules: z.array(nacosLabelRule).default([{ from: 'metadata', match: 'version' }]),
  /** Label carrying the instance's Nacos cluster name (none when empty). */
  clusterLabel: z.string().default('nacos.io/cluster'),
  /** Metadata keys whose values make the endpoint's istio locality (region/zone/subzone); none by default. */
  localityMeta: strict({
    region: z.string().min(1).optional(),
    zone: z.string().min(1).optional(),
    subzone: z.string().min(1).optional(),
  }).optional(),
  servicePort: z.number().int().min(1).max(65535).optional(),
  /**
   * How often the service list is read to find new and removed services (instance changes are pushed, not polled).
   * Costs one ServiceListRequest per namespace and group per interval (docs/collectors.md has the measurement).
   */
  listIntervalMs: z.number().int().min(200).max(600_000).default(2000),
  /** Nacos 3: also ask to be told of new and removed services (fuzzy watch), which triggers a look at once. */
  fuzzyWatch: z.boolean().default(true),
});
const nacosSource = nacosObject
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    oneSecret(v, ctx, v.username !== undefined);
    if (v.username === undefined && (v.password !== undefined || v.passwordFile !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'password needs a username' });
    }
    if (v.accessToken !== undefined && v.username !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['accessToken'],
        message: 'set username/password or accessToken, not both',
      });
    }
  }, always)
  .transform(({ passwordFile, ...v }, ctx) => ({
    ...v,
    password: passwordFile !== undefined ? readSecret(passwordFile, ctx, 'passwordFile') : v.password,
  }));

const sourceKinds = {
  'zookeeper-dubbo': zookeeperDubboSource,
  consul: consulSource,
  eureka: eurekaSource,
  nacos: nacosSource,
} as const;
type SourceKind = keyof typeof sourceKinds;
const kindNames = Object.keys(sourceKinds) as SourceKind[];
type SourceOutput = z.output<(typeof sourceKinds)[SourceKind]>;
/** Keys of each kind, to tell "a key of another kind" from a typo. */
const kindShapes = {
  'zookeeper-dubbo': zookeeperDubboSource.shape,
  consul: consulSource.shape,
  eureka: eurekaSource.shape,
  nacos: nacosObject.shape,
};
const kindKeys = Object.fromEntries(kindNames.map((k) => [k, Object.keys(kindShapes[k])])) as Record<
  SourceKind,
  string[]
>;

/**
 * A source is validated by the schema of its kind. A missing or unknown kind is reported with the valid kinds, and
 * the fields common to every kind are still validated (unknown keys against the keys of any kind), so one wrong
 * `kind` does not hide the rest of that source's problems.
 */
const sourceSchema = z.unknown().transform((raw, ctx): SourceOutput => {
  if (!isObject(raw)) {
    ctx.addIssue({
      code: 'custom',
      message: `a registry source: an object with id and kind (${kindNames.join(' | ')})`,
    });
    return z.NEVER;
  }
  const kind = raw.kind;
  const forward = (issues: z.core.$ZodIssue[]) => {
    for (const i of issues) ctx.addIssue({ ...i } as Parameters<typeof ctx.addIssue>[0]);
  };
  if (typeof kind === 'string' && kind in sourceKinds) {
    const schema = sourceKinds[kind as SourceKind];
    const res = schema.safeParse(raw);
    if (res.success) return res.data;
    // Keys valid for another kind get a precise message instead of a far-fetched suggestion.
    forward(
      res.error.issues.map((i) =>
        i.code === UNKNOWN_KEYS && i.path.length === 0
          ? {
              ...i,
              message: i.keys
                .map(
                  (k) =>
                    `${k}\t${unknownKeyMessage(k, kindKeys[kind as SourceKind], otherKind(k, kind as SourceKind))}`,
                )
                .join('\n'),
            }
          : i,
      ),
    );
    return z.NEVER;
  }
  const near = typeof kind === 'string' ? nearest(kind, kindNames) : undefined;
  ctx.addIssue({
    code: 'custom',
    path: ['kind'],
    message:
      kind === undefined
        ? `required: one of ${kindNames.map((k) => `"${k}"`).join(', ')}`
        : `unknown kind ${JSON.stringify(kind)}${near ? `; did you mean "${near}"?` : ''} (valid kinds: ${kindNames.join(', ')})`,
  });
  const common = z.looseObject(sourceCommon).safeParse(raw);
  if (!common.success) forward(common.error.issues);
  const anyKey = [...new Set(Object.values(kindKeys).flat())];
  const unknown = Object.keys(raw).filter((k) => !anyKey.includes(k));
  if (unknown.length > 0)
    forward([
      {
        code: UNKNOWN_KEYS,
        keys: unknown,
        path: [],
        input: raw,
        message: unknown.map((k) => `${k}\t${unknownKeyMessage(k, anyKey)}`).join('\n'),
      } as z.core.$ZodIssue,
    ]);
  return z.NEVER;
});

function otherKind(key: string, kind: SourceKind): string | undefined {
  const other = kindNames.find((k) => k !== kind && kindKeys[k].includes(key));
  return other ? `a key of kind ${other}, this source is ${kind}` : undefined;
}

/** SASL towards Kafka (SASL_PLAINTEXT, or SASL_SSL with `ssl`). */
const kafkaSasl = strict({
  mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: z.string().min(1),
  /** The password, or a file holding it (MESHBRIDGE_KAFKA_SASL_PASSWORD / MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE). */
  password: z.string().min(1).optional(),
  passwordFile: readableFile.optional(),
})
  .superRefine((v, ctx) => oneSecret(v, ctx, true), always)
  .transform(({ passwordFile, ...v }, ctx) => ({
    ...v,
    password: passwordFile !== undefined ? readSecret(passwordFile, ctx, 'passwordFile') : v.password!,
  }));

/** `ssl: true` is TLS with Node's built-in CAs; an object configures it; false or absent is plaintext. */
const kafkaSsl = z.preprocess((v) => (v === true ? {} : v === false ? undefined : v), tlsClient.optional());

const kafka = strict({
  brokers: z.array(z.string().regex(/^[^:]+:\d+$/, 'host:port')).min(1),
  topic: z.string().min(1).default('meshbridge.registry-events'),
  deadLetterTopic: z.string().min(1).default('meshbridge.registry-events.dlq'),
  partitions: z.number().int().min(1).max(1000).default(6),
  /** -1 keeps every event forever: the topic is the system of record. */
  retentionMs: z.number().int().min(-1).default(-1),
  maxMessageBytes: z.number().int().min(1_048_576).default(16_777_216),
  compression: z.enum(['none', 'gzip']).default('gzip'),
  clientId: z.string().default('meshbridge'),
  ssl: kafkaSsl,
  sasl: kafkaSasl.optional(),
});

const redis = strict({
  /** redis://host:port or rediss://host:port (TLS); a password in the URL (redis://:pw@host) also works. */
  url: z.string().regex(/^rediss?:\/\//, 'redis://host:port'),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]+$/)
    .default('meshbridge'),
  /** ACL user (Redis 6+); the default user when absent. */
  username: z.string().min(1).optional(),
  /** AUTH password, or a file holding it (MESHBRIDGE_REDIS_PASSWORD / MESHBRIDGE_REDIS_PASSWORD_FILE). */
  password: z.string().min(1).optional(),
  passwordFile: readableFile.optional(),
  /** TLS settings; needs a rediss:// URL (which alone means TLS with Node's built-in CAs). */
  tls: tlsClient.optional(),
})
  .superRefine((v, ctx) => {
    if (!isObject(v)) return;
    oneSecret(v, ctx, false);
    const url = typeof v.url === 'string' ? v.url : '';
    if (v.tls !== undefined && url.startsWith('redis://'))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'TLS settings need a rediss:// url' });
    let urlAuth = false;
    try {
      urlAuth = /^rediss?:/.test(url) && new URL(url).password !== '';
    } catch {
      /* the url's own rule reports it */
    }
    if (urlAuth && (v.password !== undefined || v.passwordFile !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [v.password !== undefined ? 'password' : 'passwordFile'],
        message: 'the url already carries a password; set it in one place',
      });
    }
    if (v.username !== undefined && v.password === undefined && v.passwordFile === undefined && !urlAuth) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'an ACL user needs password or passwordFile' });
    }
  }, always)
  .transform(({ passwordFile, ...v }, ctx) => ({
    ...v,
    password: passwordFile !== undefined ? readSecret(passwordFile, ctx, 'passwordFile') : v.password,
  }));

/** gateway.shards when unset (docs/gateway.md, "Shards": chosen from bench:e2e's curve). */
export const DEFAULT_GATEWAY_SHARDS = 256;
/** The size of istiod's config-source response buffer (docs/gateway.md, "istiod's response buffer"). */
export const DEFAULT_ISTIOD_BUFFER_PADDING = 100;
/** gateway.debounceMs when unset: the push window (docs/gateway.md, "Push window"). */
export const DEFAULT_GATEWAY_DEBOUNCE_MS = 20;

export const configSchema = strict({
  kafka,
  redis,
  sources: z.array(sourceSchema).min(1, 'configure at least one registry source'),
  collector: strict({
    id: z.string().default(`${os.hostname()}-${process.pid}`),
    httpHost: z.string().default('127.0.0.1'),
    httpPort: z.number().int().min(0).max(65535).default(9101),
  }).prefault({}),
  projector: strict({
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
    /**
     * How long Kafka may hold a fetch to gather more events (the consumer's fetch max wait, with a fetch min size large
     * enough that churn fills it). Under churn, events arriving within this window share one fold and one Redis commit
     * (one change record, one gateway push) instead of one each; the cost is at most this much latency when quiet.
     */
    batchWaitMs: z.number().int().min(0).max(1_000).default(20),
    /**
     * Least time between two reports of the consumed positions to Kafka's consumer group (one OffsetCommit for all
     * owned partitions). Only lag tooling reads them — the projector resumes from the offsets stored in Redis — so
     * this bounds how stale that tooling's view is; 0 reports after every batch.
     */
    offsetCommitIntervalMs: z.number().int().min(0).max(60_000).default(1_000),
  }).prefault({}),
  gateway: strict({
    grpcHost: z.string().default('0.0.0.0'),
    grpcPort: z.number().int().min(0).max(65535).default(18010),
    httpHost: z.string().default('127.0.0.1'),
    httpPort: z.number().int().min(0).max(65535).default(9103),
    /**
     * Least time between two pushes (leading edge: a change after a quiet spell goes out at once). 20 ms, not 50: at
     * 100 changes/s a 50 ms window held each change ~25 ms longer in the gateway and doubled the end-to-end p50
     * (docs/gateway.md, "Push window"); the gateway's CPU was the same.
     */
    debounceMs: z.number().int().min(0).max(10_000).default(DEFAULT_GATEWAY_DEBOUNCE_MS),
    /**
     * Config sources the snapshot is split into, by a stable hash of each resource's name: shard i is served on
     * grpcPort + i and istiod lists one `xds://` source per shard. istiod re-reads only the changed shard's
     * collection on a push, so a change costs it 1/shards of the mesh (docs/gateway.md, "Shards").
     */
    shards: z.number().int().min(1).max(1024).default(DEFAULT_GATEWAY_SHARDS),
    /**
     * Responses each istiod stream is padded to with empty MeshConfig answers right after its first one: istiod's
     * config-source client keeps the first 100 responses of every source in a buffer nothing reads, so without this
     * it holds 100 copies of the whole served mesh for its lifetime (docs/gateway.md, "istiod's response buffer").
     * 0 turns it off.
     */
    istiodBufferPadding: z.number().int().min(0).max(1000).default(DEFAULT_ISTIOD_BUFFER_PADDING),
    /** Namespaces served to istiods (empty: all); `revisions` overrides it per ISTIO_REVISION (services/xds-gateway/view.ts). */
    namespaces: z.array(hostname.max(63)).default([]),
    revisions: z.record(z.string(), z.array(hostname.max(63))).default({}),
    /** Server certificate (istiod ≥1.26 configSources[].tlsSettings mode SIMPLE); plaintext when absent. */
    tls: strict({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
  })
    .superRefine((v, ctx) => {
      if (!isObject(v) || typeof v.grpcPort !== 'number' || typeof v.shards !== 'number') return;
      if (v.grpcPort !== 0 && v.grpcPort + v.shards - 1 > 65535) {
        ctx.addIssue({
          code: 'custom',
          path: ['grpcPort'],
          message: `shard i listens on grpcPort + i: ${v.grpcPort} + ${v.shards - 1} is past 65535; lower grpcPort or gateway.shards`,
        });
      }
    }, always)
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config['sources'][number];
export type ZooKeeperDubboSourceConfig = Extract<SourceConfig, { kind: 'zookeeper-dubbo' }>;
export type ConsulSourceConfig = Extract<SourceConfig, { kind: 'consul' }>;
export type EurekaSourceConfig = Extract<SourceConfig, { kind: 'eureka' }>;
export type NacosSourceConfig = Extract<SourceConfig, { kind: 'nacos' }>;

/**
 * Environment overrides: name -> [path, parser, keys it replaces]. Every one also has a NAME_FILE form whose value is
 * read from that file (trailing newline dropped), for secrets mounted as files; setting both is an error.
 */
const ENV: Record<string, [string[], (v: string) => unknown, string[]?]> = {
  MESHBRIDGE_KAFKA_BROKERS: [
    ['kafka', 'brokers'],
    (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  ],
  MESHBRIDGE_KAFKA_TOPIC: [['kafka', 'topic'], String],
  MESHBRIDGE_KAFKA_SASL_MECHANISM: [['kafka', 'sasl', 'mechanism'], String],
  MESHBRIDGE_KAFKA_SASL_USERNAME: [['kafka', 'sasl', 'username'], String],
  MESHBRIDGE_KAFKA_SASL_PASSWORD: [['kafka', 'sasl', 'password'], String, ['passwordFile']],
  MESHBRIDGE_REDIS_URL: [['redis', 'url'], String],
  MESHBRIDGE_REDIS_PREFIX: [['redis', 'prefix'], String],
  MESHBRIDGE_REDIS_USERNAME: [['redis', 'username'], String],
  MESHBRIDGE_REDIS_PASSWORD: [['redis', 'password'], String, ['passwordFile']],
  MESHBRIDGE_COLLECTOR_ID: [['collector', 'id'], String],
  MESHBRIDGE_COLLECTOR_HTTP_PORT: [['collector', 'httpPort'], Number],
  MESHBRIDGE_PROJECTOR_HTTP_PORT: [['projector', 'httpPort'], Number],
  MESHBRIDGE_PROJECTOR_MAX_BATCH_EVENTS: [['projector', 'maxBatchEvents'], Number],
  MESHBRIDGE_GATEWAY_GRPC_PORT: [['gateway', 'grpcPort'], Number],
  MESHBRIDGE_GATEWAY_HTTP_PORT: [['gateway', 'httpPort'], Number],
  MESHBRIDGE_GATEWAY_DEBOUNCE_MS: [['gateway', 'debounceMs'], Number],
};

/** The names of the environment overrides, for documentation and tests. */
export const envOverrides: readonly string[] = Object.keys(ENV);

function setPath(obj: Record<string, unknown>, path: string[], value: unknown, replaces: string[] = []): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof cur[key] !== 'object' || cur[key] === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
  for (const k of replaces) delete cur[k]; // MESHBRIDGE_REDIS_PASSWORD beats the file's passwordFile
}

/** A value from NAME or from the file NAME_FILE names; undefined when neither is set. */
function envValue(env: NodeJS.ProcessEnv, name: string, problems: string[]): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  const hasDirect = direct !== undefined && direct !== '';
  const hasFile = file !== undefined && file !== '';
  if (hasDirect && hasFile) {
    problems.push(`${name} and ${name}_FILE are both set; set one`);
    return undefined;
  }
  if (hasDirect) return direct;
  if (!hasFile) return undefined;
  try {
    const v = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (v === '') problems.push(`${name}_FILE: ${file} is empty`);
    return v || undefined;
  } catch (e) {
    problems.push(`${name}_FILE: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return undefined;
  }
}

/** MESHBRIDGE_CONSUL_TOKEN_<ID> (id upper-cased, non-alphanumerics as _), the collector's per-source token override. */
export const consulTokenEnv = (id: string) => `MESHBRIDGE_CONSUL_TOKEN_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** Problems zod cannot see: the same source id twice (reported even when the sources have other problems). */
function duplicateIds(raw: unknown): string[] {
  if (!isObject(raw) || !Array.isArray(raw.sources)) return [];
  const first = new Map<string, number>();
  const out: string[] = [];
  raw.sources.forEach((s, i) => {
    if (!isObject(s) || typeof s.id !== 'string') return;
    const j = first.get(s.id);
    if (j === undefined) first.set(s.id, i);
    else out.push(`sources.${i}.id: duplicate source id "${s.id}" (also sources.${j}.id)`);
  });
  return out;
}

/** Validates a raw config object (and reads the secret files it names); throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, origin = 'configuration'): Config {
  const res = configSchema.safeParse(raw);
  const problems: string[] = [];
  for (const i of res.success ? [] : res.error.issues) {
    const at = i.path.join('.');
    if (i.code === UNKNOWN_KEYS) {
      // One problem per unknown key (see strict()).
      for (const line of i.message.split('\n')) {
        const tab = line.indexOf('\t');
        const key = tab < 0 ? '' : line.slice(0, tab);
        problems.push(`${at ? `${at}.` : ''}${key}: ${line.slice(tab + 1)} (in ${origin})`);
      }
    } else problems.push(`${at || '(root)'}: ${i.message} (in ${origin})`);
  }
  problems.push(...duplicateIds(raw).map((p) => `${p} (in ${origin})`));
  if (problems.length > 0 || !res.success) throw new ConfigError(problems);
  return res.data;
}

export function loadConfig(
  file: string | undefined = process.env.MESHBRIDGE_CONFIG,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError([`config file ${file}: ${(e as Error).message}`]);
    }
    try {
      const parsed: unknown = YAML.parse(text) ?? {};
      if (!isObject(parsed)) throw new Error('the top level must be a mapping of keys (kafka, redis, sources, ...)');
      raw = parsed;
    } catch (e) {
      throw new ConfigError([`config file ${file}: not valid YAML/JSON: ${(e as Error).message}`]);
    }
  }
  const envProblems: string[] = [];
  for (const [name, [path, parse, replaces]] of Object.entries(ENV)) {
    const v = envValue(env, name, envProblems);
    if (v !== undefined) setPath(raw, path, parse(v), replaces);
  }
  // MESHBRIDGE_CONSUL_TOKEN_<ID>_FILE: the collector reads MESHBRIDGE_CONSUL_TOKEN_<ID> itself (it beats tokenFile
  // and token); the file form becomes the source's token here.
  for (const src of Array.isArray(raw.sources) ? raw.sources : []) {
    if (!isObject(src) || typeof src.id !== 'string') continue;
    const name = consulTokenEnv(src.id);
    if (!env[`${name}_FILE`]) continue;
    const v = envValue(env, name, envProblems);
    if (v !== undefined && !env[name]) {
      src.token = v;
      delete src.tokenFile;
    }
  }
  const origin = file ? `${file} + MESHBRIDGE_* environment` : 'MESHBRIDGE_* environment';
  try {
    const cfg = parseConfig(raw, origin);
    if (envProblems.length > 0) throw new ConfigError([]);
    return cfg;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError([...envProblems.map((p) => `${p} (in environment)`), ...e.problems]);
  }
}
