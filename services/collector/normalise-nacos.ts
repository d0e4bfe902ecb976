import type { DataIssue } from '../../schemas/registry-event.ts';
import { KIND_DEFAULT_WEIGHT, MAX_WEIGHT } from '../../schemas/weight-scale.ts';
import type { NacosSourceConfig } from '../../services/shared/config.ts';
import { sanitiseLabels } from './labels.ts';
import { renderHost } from './naming.ts';
import { istioProtocol } from './normalise-consul.ts';
import { labelsFromMap } from './label-rules.ts';
import { portsAndInstances, type PortCandidate } from './service-ports.ts';
import { SOURCE_LABEL } from '../../schemas/mesh-labels.ts';
import type { ServiceState } from './service-state.ts';
import { endpointIssue, isPort } from './endpoint-check.ts';

/** The part of a Nacos source's config that normalisation reads (pure: no connection settings). */
export type NacosNormaliseConfig = Pick<
  NacosSourceConfig,
  | 'id'
  | 'namespace'
  | 'hostTemplate'
  | 'interfaceHostTemplate'
  | 'labelRules'
  | 'protocolMeta'
  | 'defaultProtocol'
  | 'servicePort'
  | 'includeZeroWeight'
  | 'includeDisabled'
  | 'includeUnhealthy'
  | 'clusterLabel'
  | 'localityMeta'
  | 'clusters'
  | 'allowLoopback'
>;

export interface NacosObservation {
  /** Nacos namespace id ('public' is the default namespace). */
  nacosNamespace: string;
  group: string;
  /** Service name within the group. */
  service: string;
  /** A ServiceInfo (`hosts` is the instance list), from a subscribe response or a push. Untrusted. */
  serviceInfo: unknown;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strMap = (v: unknown): Record<string, string> =>
  isObj(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};

/** Dubbo's protocol names, as Dubbo writes them into Nacos instance metadata (`protocol`), as istio protocols. */
const DUBBO_PROTOCOLS: Record<string, string> = { dubbo: 'TCP', tri: 'HTTP2', triple: 'HTTP2', rest: 'HTTP' };

/**
 * Dubbo's interface-level registrations in Nacos are services named `providers:<interface>:<version>:<group>`;
 * their template variables are {interface}, {version} and {dubboGroup} (version is undefined for other services).
 */
export function templateVars(
  obs: Pick<NacosObservation, 'nacosNamespace' | 'group' | 'service'>,
  source: string,
): Record<string, string | undefined> {
  const m = /^providers:([^:]+):([^:]*):([^:]*)$/.exec(obs.service);
  const base = { service: obs.service, group: obs.group, nacosNamespace: obs.nacosNamespace, source };
  return m ? { ...base, interface: m[1]!, version: m[2]!, dubboGroup: m[3]! } : base;
}

/** A stable registry key for one Nacos service: namespace, group and name (Nacos's own `group@@service` plus ns). */
export function nacosKey(nacosNamespace: string, group: string, service: string): string {
  return `${nacosNamespace}/${group}@@${service}`;
}

/**
 * Folds one Nacos service's instance list into its complete, istio-valid state. Unhealthy, disabled and zero-weight
 * instances are left out unless configured otherwise; each unusable datum becomes a DataIssue naming the instance
 * and field, never affecting the other instances.
 */
export function normaliseNacosService(src: NacosNormaliseConfig, obs: NacosObservation): ServiceState {
  const issues: DataIssue[] = [];
  const vars = templateVars(obs, src.id);
  const template = vars.version !== undefined ? src.interfaceHostTemplate : src.hostTemplate;
  const host = renderHost(template, vars) || renderHost('{service}', { service: obs.service });
  const registryService = nacosKey(obs.nacosNamespace, obs.group, obs.service);
  const hosts = isObj(obs.serviceInfo) ? obs.serviceInfo.hosts : undefined;
  if (!Array.isArray(hosts) && hosts !== undefined && hosts !== null) {
    issues.push({
      field: 'hosts',
      value: JSON.stringify(hosts).slice(0, 256),
      reason: 'instance list is not a list',
      action: 'service read as empty',
    });
  } else if (!isObj(obs.serviceInfo)) {
    issues.push({
      field: 'serviceInfo',
      value: JSON.stringify(obs.serviceInfo ?? null).slice(0, 256),
      reason: 'service info is not an object',
      action: 'service read as empty',
    });
  }
  const clusterFilter = src.clusters.length > 0 ? new Set(src.clusters) : undefined;
  const candidates: PortCandidate[] = [];
  for (const [i, h] of (Array.isArray(hosts) ? hosts : []).entries()) {
    if (!isObj(h)) {
      issues.push({
        field: `instances[${i}]`,
        value: JSON.stringify(h ?? null).slice(0, 256),
        reason: 'instance is not an object',
        action: 'instance skipped',
      });
      continue;
    }
    const ip = str(h.ip) ?? '';
    const where = `instances[${str(h.instanceId) || `${ip}:${String(h.port)}`}]`;
    const cluster = str(h.clusterName) || 'DEFAULT';
    if (clusterFilter && !clusterFilter.has(cluster)) continue;
    if (h.healthy === false && !src.includeUnhealthy) continue;
    if (h.enabled === false && !src.includeDisabled) continue;
    const port = h.port;
    const bad = endpointIssue(where, 'ip', ip, port, src.allowLoopback);
    if (bad || !isPort(port)) {
      if (bad) issues.push(bad);
      continue;
    }
    // Nacos weights are doubles (default 1.0); istio's are integers: scaled so 0.5 vs 1.0 keeps its ratio.
    const rawWeight = typeof h.weight === 'number' && Number.isFinite(h.weight) && h.weight >= 0 ? h.weight : 1;
    const weight = Math.min(Math.round(rawWeight * KIND_DEFAULT_WEIGHT.nacos!), MAX_WEIGHT);
    if (weight === 0 && !src.includeZeroWeight) continue;
    const meta = strMap(h.metadata);
    const dubbo = DUBBO_PROTOCOLS[(meta[src.protocolMeta] ?? '').trim().toLowerCase()];
    const { protocol, issue } = dubbo ? { protocol: dubbo, issue: undefined } : istioProtocol(meta, src);
    if (issue !== undefined) {
      issues.push({
        field: `${where}.metadata.${src.protocolMeta}`,
        value: issue.slice(0, 64),
        reason: 'not a protocol istio knows',
        action: `treated as ${protocol}`,
      });
    }
    const raw = labelsFromMap(src.labelRules, meta);
    if (src.clusterLabel && !(src.clusterLabel in raw)) raw[src.clusterLabel] = cluster;
    const { labels, issues: labelIssues } = sanitiseLabels(raw, where);
    issues.push(...labelIssues);
    labels[SOURCE_LABEL] = src.id;
    const loc = src.localityMeta;
    const locality = loc
      ? [loc.region, loc.zone, loc.subzone]
          .map((k) => (k ? (meta[k] ?? '') : ''))
          .map((s) => s.replace(/\//g, '-'))
          .join('/')
          .replace(/\/+$/, '')
      : '';
    candidates.push({ address: ip, port, protocol, labels, weight, locality });
  }
  const { ports, instances } = portsAndInstances(candidates, src.servicePort, issues);
  return {
    namespace: src.namespace,
    host,
    registryService,
    ports,
    instances,
    issues,
  };
}
