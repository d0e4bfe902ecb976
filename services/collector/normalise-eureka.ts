import type { DataIssue, InstanceSpec } from '../../schemas/registry-event.ts';
import { KIND_DEFAULT_WEIGHT } from '../../schemas/weight-scale.ts';
import type { EurekaSourceConfig } from '../../services/shared/config.ts';
import type { EurekaInstance } from './eureka-apps.ts';
import { sanitiseLabels } from './labels.ts';
import { dnsLabel, renderHost } from './naming.ts';
import { istioProtocol } from './normalise-consul.ts';
import { labelsFromMap } from './label-rules.ts';
import { deriveServicePorts } from './service-ports.ts';
import { SOURCE_LABEL } from '../../schemas/mesh-labels.ts';
import { sortInstances, type ServiceState } from './service-state.ts';
import { addressIssue } from './endpoint-check.ts';

/** The part of a Eureka source's config that normalisation reads (pure: no connection settings). */
export type EurekaNormaliseConfig = Pick<
  EurekaSourceConfig,
  | 'id'
  | 'namespace'
  | 'hostTemplate'
  | 'statuses'
  | 'ports'
  | 'protocolMetadata'
  | 'defaultProtocol'
  | 'labelRules'
  | 'region'
  | 'zoneMetadata'
  | 'servicePort'
  | 'allowLoopback'
>;

const onOff = (enabled: boolean) => (enabled ? 'enabled' : 'disabled');
const validPort = (p: number | undefined): p is number =>
  p !== undefined && Number.isInteger(p) && p >= 1 && p <= 65535;

/**
 * Folds one Eureka application's instances into its complete, istio-valid state: instances in an admitted status
 * (UP only by default), each enabled port as a service port (non-secure: protocol from metadata, default HTTP; secure:
 * HTTPS), metadata → labels by the label rules. Each unusable datum becomes a DataIssue naming the instance and field.
 */
export function normaliseEurekaApp(
  src: EurekaNormaliseConfig,
  app: string,
  instances: Iterable<EurekaInstance>,
): ServiceState {
  const list = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const issues: DataIssue[] = [];
  const vip = list.find((i) => i.vipAddress)?.vipAddress;
  const host = renderHost(src.hostTemplate, { app, vip, source: src.id }) || renderHost('{app}', { app });
  const statuses = new Set<string>(src.statuses);
  interface Candidate {
    id: string;
    address: string;
    ports: { name: string; protocol: string; port: number }[];
    labels: Record<string, string>;
    locality: string;
  }
  const candidates: Candidate[] = [];
  for (const i of list) {
    if (!statuses.has(i.status)) continue;
    const where = `instances[${i.id}]`;
    const badAddress = addressIssue(where, 'ipAddr', i.ipAddr, src.allowLoopback);
    if (badAddress) {
      issues.push(badAddress);
      continue;
    }
    const ports: Candidate['ports'] = [];
    if (src.ports !== 'secure' && i.portEnabled) {
      if (!validPort(i.port)) {
        issues.push({
          field: `${where}.port`,
          value: String(i.port).slice(0, 32),
          reason: 'port outside 1..65535',
          action: 'port skipped',
        });
      } else {
        const { protocol, issue } = istioProtocol(i.metadata, {
          protocolMeta: src.protocolMetadata,
          defaultProtocol: src.defaultProtocol,
        });
        if (issue !== undefined) {
          issues.push({
            field: `${where}.metadata.${src.protocolMetadata}`,
            value: issue.slice(0, 64),
            reason: 'not a protocol istio knows',
            action: `treated as ${protocol}`,
          });
        }
        ports.push({ name: dnsLabel(protocol), protocol, port: i.port });
      }
    }
    if (src.ports !== 'non-secure' && i.securePortEnabled) {
      if (!validPort(i.securePort)) {
        issues.push({
          field: `${where}.securePort`,
          value: String(i.securePort).slice(0, 32),
          reason: 'port outside 1..65535',
          action: 'port skipped',
        });
      } else {
        // The secure port is named apart from the non-secure one even when both speak HTTPS.
        ports.push({
          name: ports.some((p) => p.name === 'https') ? 'https-secure' : 'https',
          protocol: 'HTTPS',
          port: i.securePort,
        });
      }
    }
    if (ports.length === 0) {
      issues.push({
        field: `${where}`,
        value:
          `port ${i.port ?? '-'} (${onOff(i.portEnabled)}), ` +
          `securePort ${i.securePort ?? '-'} (${onOff(i.securePortEnabled)})`,
        reason: `no usable port (ports: ${src.ports})`,
        action: 'instance skipped',
      });
      continue;
    }
    const { labels, issues: labelIssues } = sanitiseLabels(labelsFromMap(src.labelRules, i.metadata), where);
    issues.push(...labelIssues);
    labels[SOURCE_LABEL] = src.id;
    const zone = i.metadata[src.zoneMetadata];
    const locality = src.region
      ? [src.region, zone]
          .filter((s): s is string => Boolean(s))
          .map((s) => s.replace(/\//g, '-'))
          .join('/')
      : '';
    candidates.push({ id: i.id, address: i.ipAddr, ports, labels, locality });
  }
  const servicePorts = deriveServicePorts(
    servedByAll(candidates, issues).flatMap((c) => c.ports),
    src.servicePort,
    issues,
  );
  const kept = new Set(servicePorts.map((p) => p.name));
  const out = new Map<string, InstanceSpec>();
  for (const c of candidates) {
    const ports = Object.fromEntries(c.ports.filter((p) => kept.has(p.name)).map((p) => [p.name, p.port]));
    if (Object.keys(ports).length === 0) continue;
    // Two registrations of one address and ports (a restart under a new instance id) are one endpoint.
    const key = `${c.address}|${Object.entries(ports).sort().join(',')}`;
    if (!out.has(key))
      out.set(key, {
        address: c.address,
        ports,
        labels: c.labels,
        weight: KIND_DEFAULT_WEIGHT.eureka!,
        locality: c.locality,
      });
  }
  return {
    namespace: src.namespace,
    host,
    registryService: app,
    ports: servicePorts,
    instances: sortInstances([...out.values()]),
    issues,
  };
}

/**
 * Keeps a port name only where every endpoint serves it: istio sends a service port's traffic to every endpoint of a
 * ServiceEntry, on the service port's number when the endpoint names no port of its own — an instance without its
 * secure port enabled would get TLS on some port it never opened. When no name is served by all, the one served by
 * most instances is kept and the instances without it are left out (both reported).
 */
function servedByAll<C extends { id: string; ports: { name: string }[] }>(candidates: C[], issues: DataIssue[]): C[] {
  if (candidates.length === 0) return candidates;
  const count = new Map<string, number>();
  for (const c of candidates) for (const p of c.ports) count.set(p.name, (count.get(p.name) ?? 0) + 1);
  const names = [...count.keys()].sort();
  let keep = new Set(names.filter((n) => count.get(n) === candidates.length));
  if (keep.size === 0) keep = new Set([names.reduce((best, n) => (count.get(n)! > count.get(best)! ? n : best))]);
  for (const n of names) {
    if (keep.has(n)) continue;
    issues.push({
      field: 'ports',
      value: n,
      reason: `only ${count.get(n)} of ${candidates.length} instances serve it (istio would send its traffic to all)`,
      action: 'port dropped',
    });
  }
  const out: C[] = [];
  for (const c of candidates) {
    const ports = c.ports.filter((p) => keep.has(p.name));
    if (ports.length === 0) {
      issues.push({
        field: `instances[${c.id}]`,
        value: c.ports.map((p) => p.name).join(','),
        reason: `does not serve port ${[...keep].join(',')}`,
        action: 'instance skipped',
      });
      continue;
    }
    out.push({ ...c, ports });
  }
  return out;
}
