import { istioProtocol as istioSpelling } from '../../schemas/istio-rules.ts';
import { portsAndInstances, type PortCandidate } from './service-ports.ts';
import type { DataIssue } from '../../schemas/registry-event.ts';
import { KIND_DEFAULT_WEIGHT, MAX_WEIGHT } from '../../schemas/weight-scale.ts';
import type { ConsulSourceConfig } from '../../services/shared/config.ts';
import { labelsFromRules } from './label-rules.ts';
import { sanitiseLabels } from './labels.ts';
import { renderHost } from './naming.ts';
import { SOURCE_LABEL } from '../../schemas/mesh-labels.ts';
import type { ServiceState } from './service-state.ts';
import { endpointIssue, isPort } from './endpoint-check.ts';

/** The part of a Consul source's config that normalisation reads (pure: no connection settings). */
export type ConsulNormaliseConfig = Pick<
  ConsulSourceConfig,
  | 'id'
  | 'namespace'
  | 'hostTemplate'
  | 'health'
  | 'protocolMeta'
  | 'defaultProtocol'
  | 'labelRules'
  | 'servicePort'
  | 'includeZeroWeight'
  | 'zoneNodeMeta'
  | 'allowLoopback'
>;

type Health = 'passing' | 'warning' | 'critical';
const RANK: Record<Health, number> = { passing: 0, warning: 1, critical: 2 };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** Consul meta maps are string→string; anything else in them is garbage and ignored. */
const strMap = (v: unknown): Record<string, string> =>
  isObj(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};

/** An instance's health is its worst check (node checks included, as Consul's own `passing` filter does). */
function healthOf(checks: unknown): Health {
  let worst: Health = 'passing';
  if (!Array.isArray(checks)) return worst;
  for (const c of checks) {
    const s = isObj(c) ? str(c.Status) : undefined;
    // maintenance mode is a critical check in Consul; an unknown status counts as critical (fail closed).
    const h: Health = s === 'passing' ? 'passing' : s === 'warning' ? 'warning' : 'critical';
    if (RANK[h] > RANK[worst]) worst = h;
  }
  return worst;
}

function admitted(h: Health, policy: ConsulNormaliseConfig['health']): boolean {
  return policy === 'any' || RANK[h] <= (policy === 'warning' ? RANK.warning : RANK.passing);
}

/** The protocol an instance declares in its service meta, mapped to an istio protocol; unknown → an issue. */
export function istioProtocol(
  meta: Record<string, string>,
  src: Pick<ConsulNormaliseConfig, 'protocolMeta' | 'defaultProtocol'>,
): { protocol: string; issue?: string } {
  const raw = meta[src.protocolMeta];
  if (raw === undefined || raw === '') return { protocol: src.defaultProtocol };
  const p = istioSpelling(raw.trim());
  return p ? { protocol: p } : { protocol: src.defaultProtocol, issue: raw };
}

export interface ConsulObservation {
  /** Consul service name. */
  service: string;
  /** Datacenter the entries came from (the agent's, or the configured one). */
  datacenter: string;
  /** The /v1/health/service/<name> response body: a list of {Node, Service, Checks}. Untrusted. */
  entries: unknown;
}

/**
 * Folds one Consul service's health entries into its complete, istio-valid state. Instances that fail health,
 * have no usable address or port, or zero weight are left out; each unusable datum becomes a DataIssue naming the
 * instance and field, never affecting the other instances.
 */
export function normaliseConsulService(src: ConsulNormaliseConfig, obs: ConsulObservation): ServiceState {
  const issues: DataIssue[] = [];
  const host =
    renderHost(src.hostTemplate, { service: obs.service, datacenter: obs.datacenter, source: src.id }) ||
    renderHost('{service}', { service: obs.service });
  if (!Array.isArray(obs.entries)) {
    issues.push({
      field: 'entries',
      value: JSON.stringify(obs.entries ?? null).slice(0, 256),
      reason: 'health response is not a list',
      action: 'service read as empty',
    });
  }
  const candidates: PortCandidate[] = [];
  for (const [i, e] of (Array.isArray(obs.entries) ? obs.entries : []).entries()) {
    const node = isObj(e) && isObj(e.Node) ? e.Node : undefined;
    const svc = isObj(e) && isObj(e.Service) ? e.Service : undefined;
    const id = `${str(node?.Node) ?? '?'}/${str(svc?.ID) ?? i}`;
    const where = `instances[${id}]`;
    if (!svc || !node) {
      issues.push({
        field: `${where}`,
        value: JSON.stringify(e ?? null).slice(0, 256),
        reason: 'entry lacks Node or Service',
        action: 'instance skipped',
      });
      continue;
    }
    // Connect sidecars and gateways are registered as services of their own kind: not application endpoints.
    if (str(svc.Kind)) continue;
    if (!admitted(healthOf(e && (e as Record<string, unknown>).Checks), src.health)) continue;
    const address = str(svc.Address) || str(node.Address) || '';
    const port = svc.Port;
    const bad = endpointIssue(where, 'address', address, port, src.allowLoopback);
    if (bad || !isPort(port)) {
      if (bad) issues.push(bad);
      continue;
    }
    const serviceMeta = strMap(svc.Meta);
    const nodeMeta = strMap(node.Meta);
    const { protocol, issue } = istioProtocol(serviceMeta, src);
    if (issue !== undefined) {
      issues.push({
        field: `${where}.meta.${src.protocolMeta}`,
        value: issue.slice(0, 64),
        reason: 'not a protocol istio knows',
        action: `treated as ${protocol}`,
      });
    }
    const w = isObj(svc.Weights) ? svc.Weights : {};
    const h = healthOf((e as Record<string, unknown>).Checks);
    const rawWeight = h === 'warning' ? w.Warning : w.Passing;
    const weight =
      typeof rawWeight === 'number' && Number.isInteger(rawWeight) && rawWeight >= 0
        ? Math.min(rawWeight, MAX_WEIGHT)
        : KIND_DEFAULT_WEIGHT.consul!;
    if (weight === 0 && !src.includeZeroWeight) continue;
    const tags = Array.isArray(svc.Tags) ? svc.Tags.filter((t): t is string => typeof t === 'string') : [];
    const { labels, issues: labelIssues } = sanitiseLabels(
      labelsFromRules(src.labelRules, tags, serviceMeta, nodeMeta),
      where,
    );
    issues.push(...labelIssues);
    labels[SOURCE_LABEL] = src.id;
    // istio locality is region/zone/subzone: the datacenter is the region; a configured node meta key the zone.
    const dc = str(node.Datacenter) || obs.datacenter;
    const zone = src.zoneNodeMeta ? nodeMeta[src.zoneNodeMeta] : undefined;
    const locality = [dc, zone]
      .filter((s): s is string => Boolean(s))
      .map((s) => s.replace(/\//g, '-'))
      .join('/');
    candidates.push({ address, port, protocol, labels, weight, locality });
  }

  const { ports, instances } = portsAndInstances(candidates, src.servicePort, issues);
  return {
    namespace: src.namespace,
    host,
    registryService: obs.service,
    ports,
    instances,
    issues,
  };
}
