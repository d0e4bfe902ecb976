import type { DataIssue, InstanceSpec } from '../../schemas/registry-event.ts';
import type { DubboLabelRule, ZooKeeperDubboSourceConfig } from '../../services/shared/config.ts';

/** The part of a source's config that normalisation reads (pure: no connection settings). */
export type DubboNormaliseConfig = Pick<
  ZooKeeperDubboSourceConfig,
  | 'id'
  | 'namespace'
  | 'hostTemplate'
  | 'servicePort'
  | 'includeDisabled'
  | 'includeZeroWeight'
  | 'allowLoopback'
  | 'labelRules'
>;
type SourceConfig = DubboNormaliseConfig;
import { parseDubboProviderUrl, type DubboProvider } from './dubbo-url.ts';
import { sanitiseLabels } from './labels.ts';
import { keysReadBy, labelsFromMap } from './label-rules.ts';
import { dnsLabel, renderHost } from './naming.ts';
import { deriveServicePorts } from './service-ports.ts';
import { dubboWeight, publishDubboWeights } from './dubbo-weight.ts';
import { SOURCE_LABEL } from '../../schemas/mesh-labels.ts';
import { Sharing } from './sharing.ts';
import { addressProblem } from './endpoint-check.ts';
import type { ServiceState } from './service-state.ts';

export type { ServiceState } from './service-state.ts';

/**
 * What a Dubbo source labels endpoints with when its config names no `labelRules`: per mode, the registry data a user
 * routes on. Interface mode: the provider's application, version, group and release, and its Dubbo tag (`dubbo.tag`,
 * what Dubbo's own tag routing selects providers by). Application mode: the metadata revision (the app name is
 * always the `app` label there).
 */
export const DUBBO_LABEL_RULES: Readonly<Record<'interface' | 'application', readonly DubboLabelRule[]>> = {
  interface: [
    { from: 'param', match: 'application', label: 'app' },
    { from: 'param', match: 'version' },
    { from: 'param', match: 'group', label: 'dubbo.apache.org/group' },
    { from: 'param', match: 'release', label: 'dubbo.apache.org/release' },
    { from: 'param', match: 'dubbo\\.tag', label: 'dubbo.apache.org/tag' },
  ],
  application: [{ from: 'metadata', match: 'dubbo\\.metadata\\.revision', label: 'dubbo.apache.org/revision' }],
};

/** The label rules a source runs: its own, or its mode's defaults. */
export function dubboLabelRules(src: Pick<DubboNormaliseConfig, 'labelRules'>, mode: 'interface' | 'application') {
  return src.labelRules ?? DUBBO_LABEL_RULES[mode];
}

/** Provider URL parameters normalisation reads whatever the label rules say. */
const PARAMS_ALWAYS_READ = new Set(['side', 'enabled', 'disabled', 'weight', 'group', 'version']);

/**
 * Every provider URL parameter normalisation reads for a source: what the ZooKeeper source's parse cache keeps of
 * each provider (the rest of a URL's 15–30 parameters are dropped on parse).
 */
export function providerParamsRead(src: Pick<DubboNormaliseConfig, 'labelRules'>): (param: string) => boolean {
  const byRules = keysReadBy(dubboLabelRules(src, 'interface'));
  return (param) => PARAMS_ALWAYS_READ.has(param) || byRules(param);
}

function excluded(p: DubboProvider, src: SourceConfig): string | undefined {
  if ((p.params.side ?? 'provider') !== 'provider') return `side=${p.params.side}`;
  if (!src.includeDisabled && (p.params.enabled === 'false' || p.params.disabled === 'true')) return 'disabled';
  // Read as the weight itself is (dubboWeight): `weight=` is Dubbo's default, 100, not zero — Dubbo routes to it.
  if (!src.includeZeroWeight && dubboWeight(p.params.weight) === 0) return 'weight=0';
  return undefined;
}

/**
 * Folds the provider znodes of one Dubbo interface into the service's complete, istio-valid state. Every URL that is
 * malformed or unusable becomes a DataIssue; it never affects the valid providers.
 */
export function normaliseDubboService(
  src: SourceConfig,
  iface: string,
  children: string[],
  parse: (znode: string) => ReturnType<typeof parseDubboProviderUrl> = parseDubboProviderUrl,
): ServiceState {
  const issues: DataIssue[] = [];
  const providers: DubboProvider[] = [];
  for (const child of children) {
    const parsed = parse(child);
    if (!parsed.ok) {
      issues.push({
        field: `providers.${parsed.error.field}`,
        value: parsed.error.znode.slice(0, 256),
        reason: parsed.error.reason,
        action: 'provider skipped',
      });
      continue;
    }
    if (excluded(parsed.value, src) !== undefined) continue;
    // The parse (cached per znode, the same for every source) has checked it is an IP; whether this source may
    // publish it is the source's call.
    const unusable = addressProblem(parsed.value.host, src.allowLoopback);
    if (unusable !== undefined) {
      issues.push({
        field: 'providers.host',
        value: child.slice(0, 256),
        reason: unusable,
        action: 'provider skipped',
      });
      continue;
    }
    providers.push(parsed.value);
  }
  const groupOf = (p: DubboProvider) => p.params.group;
  const versionOf = (p: DubboProvider) => p.params.version;
  const first = providers[0];
  const host =
    renderHost(src.hostTemplate ?? '{interface}', {
      interface: iface,
      group: first && groupOf(first),
      version: first && versionOf(first),
      source: src.id,
    }) || renderHost('{interface}', { interface: iface });

  // One service port per protocol. Dubbo's own protocols are not istio protocols (istiod rejects DUBBO): TCP.
  const ports = deriveServicePorts(
    providers.map((p) => ({ name: dubboPortName(p.protocol), protocol: 'TCP', port: p.port })),
    src.servicePort,
    issues,
  );
  const portName = new Map(ports.map((p) => [p.name, p]));

  const instances = new Map<string, InstanceSpec>();
  const sameLabels = new Sharing<Record<string, string>>();
  const rules = dubboLabelRules(src, 'interface');
  for (const p of providers) {
    const name = dubboPortName(p.protocol);
    if (!portName.has(name)) continue;
    const { labels, issues: labelIssues } = sanitiseLabels(
      labelsFromMap(rules, p.params, true),
      `providers[${p.host}:${p.port}]`,
    );
    issues.push(...labelIssues);
    labels[SOURCE_LABEL] = src.id;
    const weight = dubboWeight(p.params.weight);
    // One endpoint per address and set of ports; the same process serving two protocols merges into one endpoint.
    const key = `${p.host}|${p.port}|${p.protocol}`;
    const existing = [...instances.values()].find((i) => i.address === p.host && i.ports[name] === undefined);
    if (existing && existing.weight === weight) {
      existing.ports[name] = p.port;
      continue;
    }
    if (!instances.has(key))
      instances.set(key, {
        address: p.host,
        ports: { [name]: p.port },
        labels: sameLabels.of(labels),
        weight,
        locality: '',
      });
  }
  // Instances of one service usually carry the same labels and ports: one object each, not one per instance (the
  // collector holds these for every provider of the registry). Ports only now that the merge above is done with them.
  const samePorts = new Sharing<Record<string, number>>();
  for (const i of instances.values()) i.ports = samePorts.of(i.ports);
  const sortedInstances = publishDubboWeights([...instances.values()]).sort((a, b) =>
    cmp(instanceKey(a), instanceKey(b)),
  );
  return { namespace: src.namespace, host, registryService: iface, ports, instances: sortedInstances, issues };
}

function instanceKey(i: InstanceSpec): string {
  return `${i.address}|${Object.entries(i.ports)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
}
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The service port name of a Dubbo protocol: `tcp-dubbo`, `tcp-tri`, ... (a valid, stable DNS-1123 label). */
export function dubboPortName(protocol: string): string {
  return `tcp-${dnsLabel(protocol).slice(0, 58) || 'dubbo'}`;
}
