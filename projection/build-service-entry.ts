import { err, type Result } from '../services/shared/errors.ts';
import { SOURCE_LABEL, SOURCES_ANNOTATION } from '../schemas/mesh-labels.ts';
import type { ServicePortSpec } from '../schemas/registry-event.ts';
import type { ResourceMeta } from '../schemas/mcp-envelope.ts';
import type { ServiceFold } from './fold-state.ts';
import { validateServiceEntry, type ServiceEntryBody } from '../schemas/service-entry/validate.ts';

const MESH_INTERNAL = 1;
const STATIC = 1;
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'meshbridge' };

export interface BuiltServiceEntry {
  meta: ResourceMeta;
  body: ServiceEntryBody;
  /** Merge decisions worth reporting (port conflicts between sources). */
  notes: string[];
}

/** The built ServiceEntry, or the problems istiod would reject it for. */
export type BuildResult = Result<BuiltServiceEntry, string[]>;

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Builds the ServiceEntry of one mesh service from every source that feeds it, canonically ordered so equal input
 * gives equal bytes. Merge rule when sources disagree on a port: sources are taken in id order and the first one to
 * define a port name or number wins; the others' conflicting definitions are dropped and reported.
 */
export function buildServiceEntry(fold: ServiceFold): BuildResult {
  const sourceIds = Object.keys(fold.sources).sort(cmp);
  const notes: string[] = [];
  const byName = new Map<string, ServicePortSpec & { source: string }>();
  const byNumber = new Map<number, string>();
  for (const id of sourceIds) {
    for (const p of fold.sources[id]!.ports) {
      const have = byName.get(p.name);
      if (have) {
        if (have.number !== p.number || have.protocol !== p.protocol) {
          notes.push(
            `port ${p.name}: source ${id} says ${p.number}/${p.protocol}, kept ${have.number}/${have.protocol} from ${have.source}`,
          );
        }
        continue;
      }
      const owner = byNumber.get(p.number);
      if (owner !== undefined) {
        notes.push(`port ${p.number}: source ${id} names it ${p.name}, kept ${owner}`);
        continue;
      }
      byName.set(p.name, { ...p, source: id });
      byNumber.set(p.number, p.name);
    }
  }
  const ports = [...byName.values()]
    .sort((a, b) => a.number - b.number)
    .map(({ number, protocol, name }) => ({ number, protocol, name }));

  const endpoints: ServiceEntryBody['endpoints'] = [];
  const sortKeys: string[] = [];
  // An instance two sources both report (Dubbo's multiple registries, a fleet moving from one registry to another) is
  // one endpoint: istiod would hand sidecars the address twice, and the instance would get two shares of the traffic.
  // The first source in id order serves it; the next one takes over, without a gap, when that one drops it.
  const seen = sourceIds.length > 1 ? new Map<string, string>() : undefined;
  const shared: string[] = [];
  for (const id of sourceIds) {
    for (const inst of fold.sources[id]!.instances) {
      const epPorts = sortedRecord(inst.ports, (n) => byName.has(n));
      if (epPorts === undefined) continue;
      // Address and ports: the instance's identity, and the start of its sort key.
      const identity = `${inst.address}|${portsText(epPorts)}`;
      const first = seen?.get(identity);
      if (first !== undefined) {
        shared.push(`${inst.address} ${portsText(epPorts)} (${first}, ${id})`);
        continue;
      }
      seen?.set(identity, id);
      const ep: ServiceEntryBody['endpoints'][number] = {
        address: inst.address,
        ports: epPorts,
        labels: sortedRecord(inst.labels) ?? {},
      };
      if (inst.weight > 0) ep.weight = inst.weight;
      if (inst.locality) ep.locality = inst.locality;
      endpoints.push(ep);
      sortKeys.push(`${identity}|${ep.labels[SOURCE_LABEL] ?? ''}`);
    }
  }
  if (shared.length > 0)
    notes.push(
      `${shared.length} endpoint(s) reported by more than one source, each served once as the first source's: ` +
        shared.slice(0, 5).join('; ') +
        (shared.length > 5 ? `; and ${shared.length - 5} more` : ''),
    );
  // Sort by a key computed once per endpoint (a comparator building keys dominated the build for large services).
  const order = endpoints.map((_, i) => i).sort((a, b) => cmp(sortKeys[a]!, sortKeys[b]!));
  const sortedEndpoints = order.map((i) => endpoints[i]!);

  const body: ServiceEntryBody = {
    hosts: [fold.host],
    ports,
    location: MESH_INTERNAL,
    resolution: STATIC,
    endpoints: sortedEndpoints,
  };
  const problems = validateServiceEntry(body);
  if (problems.length > 0) return err(problems);
  return {
    ok: true,
    value: {
      meta: {
        name: `${fold.namespace}/${fold.host}`,
        createTimeMs: fold.createTimeMs,
        labels: { ...MANAGED_BY },
        annotations: { [SOURCES_ANNOTATION]: sourceIds.join(',') },
      },
      body,
      notes,
    },
  };
}

/**
 * The record with its keys in sorted order (only those `keep` accepts); undefined when none is left. Returns the
 * record itself when it already is so — the usual case, since sources normalise in sorted order — to spare the
 * hot path an allocation per instance. Results are only read (encoded), never mutated.
 */
function sortedRecord<T>(rec: Record<string, T>, keep?: (k: string) => boolean): Record<string, T> | undefined {
  const keys = Object.keys(rec);
  let reuse = true;
  for (let i = 0; i < keys.length && reuse; i++) {
    if ((i > 0 && cmp(keys[i - 1]!, keys[i]!) >= 0) || (keep && !keep(keys[i]!))) reuse = false;
  }
  if (reuse) return keys.length > 0 || !keep ? rec : undefined;
  const out: Record<string, T> = {};
  for (const k of keys.filter((x) => !keep || keep(x)).sort(cmp)) out[k] = rec[k]!;
  return Object.keys(out).length > 0 || !keep ? out : undefined;
}

/** `name=port,...` of a record already in key order. */
function portsText(ports: Record<string, number>): string {
  return Object.entries(ports)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
