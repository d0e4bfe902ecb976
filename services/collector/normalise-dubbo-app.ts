import { deriveServicePorts } from './service-ports.ts';
import { dubboWeight, publishDubboWeights } from './dubbo-weight.ts';
import { dubboLabelRules, dubboPortName, type DubboNormaliseConfig } from './normalise-dubbo.ts';
import { labelsFromMap } from './label-rules.ts';
import type { DataIssue, InstanceSpec, ServicePortSpec } from '../../schemas/registry-event.ts';
import { sanitiseLabels } from './labels.ts';
import { renderHost } from './naming.ts';
import { SOURCE_LABEL } from '../../schemas/mesh-labels.ts';
import { sortInstances, type ServiceState } from './service-state.ts';
import { err, ok, type Result } from '../../services/shared/errors.ts';
import { addressIssue } from './endpoint-check.ts';

/** One instance znode of Dubbo 3 application-level discovery: <servicesRoot>/<app>/<ip:port>, data = Curator JSON. */
export interface AppInstanceNode {
  name: string;
  data: Buffer | undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The ports an instance serves: Dubbo writes them into its metadata as `dubbo.endpoints`, a JSON list of
 * {port, protocol}; without it the instance's own port serves the `dubbo` protocol. Untrusted input.
 */
function endpointsOf(meta: Record<string, unknown>, port: unknown): Result<{ protocol: string; port: number }[]> {
  const raw = meta['dubbo.endpoints'];
  if (typeof raw === 'string' && raw !== '') {
    let list: unknown;
    try {
      list = JSON.parse(raw);
    } catch {
      return err('dubbo.endpoints is not JSON');
    }
    if (!Array.isArray(list)) return err('dubbo.endpoints is not a list');
    const out = list.filter(isObj).map((e) => ({
      protocol: typeof e.protocol === 'string' ? e.protocol.toLowerCase() : 'dubbo',
      port: e.port as number,
    }));
    if (out.length === 0) return err('dubbo.endpoints is empty');
    return ok(out);
  }
  return ok([{ protocol: 'dubbo', port: port as number }]);
}

const validPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;

/**
 * Folds the instances of one Dubbo 3 application into its complete, istio-valid state: one mesh service per
 * application (host from `{app}` by default). Every protocol an instance serves becomes a TCP port named
 * `tcp-<protocol>` (istiod rejects DUBBO; Triple also speaks HTTP/1 and is not safely GRPC), so the interface-level
 * and application-level views of one provider name their ports alike. Bad instances are reported, never fatal.
 */
export function normaliseDubboApp(src: DubboNormaliseConfig, app: string, nodes: AppInstanceNode[]): ServiceState {
  const issues: DataIssue[] = [];
  const host =
    renderHost(src.hostTemplate ?? '{app}', { app, interface: app, source: src.id }) || renderHost('{app}', { app });
  interface Candidate {
    address: string;
    endpoints: { protocol: string; port: number }[];
    labels: Record<string, string>;
    weight: number;
  }
  const candidates: Candidate[] = [];
  const rules = dubboLabelRules(src, 'application');
  for (const node of nodes) {
    const where = `instances[${node.name.slice(0, 64)}]`;
    let json: unknown;
    try {
      json = JSON.parse(node.data?.toString('utf8') ?? '');
    } catch {
      issues.push({
        field: `${where}.data`,
        value: (node.data?.toString('utf8') ?? '').slice(0, 256),
        reason: 'instance data is not JSON',
        action: 'instance skipped',
      });
      continue;
    }
    if (!isObj(json)) {
      issues.push({
        field: `${where}.data`,
        value: JSON.stringify(json).slice(0, 256),
        reason: 'instance data is not an object',
        action: 'instance skipped',
      });
      continue;
    }
    const payload = isObj(json.payload) ? json.payload : {};
    const meta = isObj(payload.metadata) ? payload.metadata : {};
    const address = typeof json.address === 'string' ? json.address : '';
    const badAddress = addressIssue(where, 'address', address, src.allowLoopback);
    if (badAddress) {
      issues.push(badAddress);
      continue;
    }
    if (!src.includeDisabled && json.enabled === false) continue;
    const weight = dubboWeight(meta.weight);
    if (!src.includeZeroWeight && meta.weight !== undefined && weight === 0) continue;
    const parsed = endpointsOf(meta, json.port);
    if (!parsed.ok) {
      issues.push({
        field: `${where}.metadata.dubbo.endpoints`,
        value: String(meta['dubbo.endpoints']).slice(0, 256),
        reason: parsed.error,
        action: 'instance skipped',
      });
      continue;
    }
    const eps = parsed.value;
    const good = eps.filter((e) => validPort(e.port));
    for (const bad of eps.filter((e) => !validPort(e.port))) {
      issues.push({
        field: `${where}.port`,
        value: String(bad.port).slice(0, 32),
        reason: 'port outside 1..65535',
        action: 'endpoint skipped',
      });
    }
    if (good.length === 0) continue;
    // The application's name is always its `app` label; a rule may not take that label over.
    const raw = { ...labelsFromMap(rules, meta, true), app };
    const { labels, issues: labelIssues } = sanitiseLabels(raw, where);
    issues.push(...labelIssues);
    labels[SOURCE_LABEL] = src.id;
    candidates.push({ address, endpoints: good, labels, weight });
  }

  const portName = dubboPortName;
  const ports = deriveServicePorts(
    candidates.flatMap((c) => c.endpoints.map((e) => ({ name: portName(e.protocol), protocol: 'TCP', port: e.port }))),
    src.servicePort,
    issues,
  );
  const kept = new Set(ports.map((p) => p.name));
  const instances = new Map<string, InstanceSpec>();
  for (const c of candidates) {
    const instPorts = Object.fromEntries(
      c.endpoints.map((e) => [portName(e.protocol), e.port]).filter(([n]) => kept.has(n as string)),
    );
    if (Object.keys(instPorts).length === 0) continue;
    const key = `${c.address}|${JSON.stringify(Object.entries(instPorts).sort())}`;
    if (!instances.has(key))
      instances.set(key, { address: c.address, ports: instPorts, labels: c.labels, weight: c.weight, locality: '' });
  }
  return {
    namespace: src.namespace,
    host,
    registryService: app,
    ports,
    instances: sortInstances(publishDubboWeights([...instances.values()])),
    issues,
  };
}

/** Parses a mapping node's data ("app1,app2"): the applications that provide an interface. */
export function parseMapping(data: Buffer | undefined): string[] {
  return [
    ...new Set(
      (data?.toString('utf8') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => /^[A-Za-z0-9][-A-Za-z0-9_.]*$/.test(s)),
    ),
  ].sort();
}

/**
 * An interface-named mesh service composed from the states of the applications that provide it (mapping): the
 * union of their ports (by name; the first number wins) and their endpoints, each keeping its `app` label.
 */
export function composeInterfaceService(
  src: Pick<DubboNormaliseConfig, 'namespace' | 'id'> & { interfaceHostTemplate: string },
  iface: string,
  apps: ServiceState[],
): ServiceState {
  const host =
    renderHost(src.interfaceHostTemplate, { interface: iface, source: src.id }) ||
    renderHost('{interface}', { interface: iface });
  const ports = new Map<string, ServicePortSpec>();
  const issues: DataIssue[] = [];
  for (const a of apps) {
    for (const p of a.ports) {
      const have = ports.get(p.name);
      if (!have && ![...ports.values()].some((q) => q.number === p.number)) ports.set(p.name, p);
      else if (!have || have.number !== p.number)
        issues.push({
          field: `apps[${a.registryService}].ports`,
          value: `${p.name}:${p.number}`,
          reason: 'conflicts with another application of the interface',
          action: 'port dropped',
        });
    }
  }
  const names = new Set(ports.keys());
  const instances = new Map<string, InstanceSpec>();
  for (const a of apps) {
    for (const i of a.instances) {
      const kept = Object.fromEntries(Object.entries(i.ports).filter(([n]) => names.has(n)));
      if (Object.keys(kept).length === 0) continue;
      const key = `${i.address}|${JSON.stringify(Object.entries(kept).sort())}`;
      if (!instances.has(key)) instances.set(key, { ...i, ports: kept });
    }
  }
  return {
    namespace: src.namespace,
    host,
    registryService: iface,
    ports: [...ports.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    instances: sortInstances([...instances.values()]),
    issues,
  };
}
