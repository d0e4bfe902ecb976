import { err, type Result } from '../services/shared/errors.ts';
import { SOURCE_LABEL, SOURCES_ANNOTATION } from '../schemas/mesh-labels.ts';
import type { ServicePortSpec } from '../schemas/registry-event.ts';
import { KIND_DEFAULT_WEIGHT, MAX_WEIGHT } from '../schemas/weight-scale.ts';
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

/** The scale weights of a host fed by several sources are put on: a registry's default share is this much. */
const SHARED_SCALE = 100;

/**
 * An instance's weight on the shared scale (each kind's own scale: schemas/weight-scale.ts; a kind not listed there
 * counts as 1). A source leaves weights out when all of its instances have the same one (0 here): that is the kind's
 * default share. istiod reads a missing weight as 1, so next to another source's
 * explicit weights such an instance would get a hundredth of its share — a fleet moving from ZooKeeper to Nacos
 * would send ~1% of the traffic to the providers still in ZooKeeper.
 */
function sharedWeight(kind: string, weight: number): number {
  if (weight <= 0) return SHARED_SCALE;
  return Math.min(Math.round((weight * SHARED_SCALE) / (KIND_DEFAULT_WEIGHT[kind] ?? 1)), MAX_WEIGHT);
}

/** The ports of a host fed by several sources, and how each source's port names map onto them. */
export interface MergedPorts {
  /** Sources in id order: the merge's precedence. */
  sourceIds: string[];
  /** The host's ports, by number. */
  ports: ServicePortSpec[];
  /** Kept port names. */
  names: ReadonlySet<string>;
  /** Per source, its port names that serve a kept port under another name. */
  renames: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Merge decisions worth reporting. */
  notes: string[];
}

/**
 * Merge rule when sources disagree on a port: sources are taken in id order and the first one to define a port name
 * or number wins; the others' conflicting definitions are dropped and reported, and a source that names a kept port
 * number differently has its instances serve it under the kept name (never dropped for a name).
 */
export function mergePorts(fold: ServiceFold): MergedPorts {
  const sourceIds = Object.keys(fold.sources).sort(cmp);
  const notes: string[] = [];
  const byName = new Map<string, ServicePortSpec & { source: string }>();
  const byNumber = new Map<number, string>();
  // A port number another source already named: this source's instances serve it under that name. Registries name
  // one protocol differently (ZooKeeper's Dubbo `tcp-dubbo`, Nacos's `tcp`), and a fleet moving between them must
  // not lose the providers of the second registry.
  const renames = new Map<string, Map<string, string>>();
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
        notes.push(
          `port ${p.number}: source ${id} names it ${p.name}, kept ${owner} (its instances serve it as ${owner})`,
        );
        const r = renames.get(id) ?? new Map<string, string>();
        renames.set(id, r);
        r.set(p.name, owner);
        continue;
      }
      byName.set(p.name, { ...p, source: id });
      byNumber.set(p.number, p.name);
    }
  }
  const ports = [...byName.values()]
    .sort((a, b) => a.number - b.number)
    .map(({ number, protocol, name }) => ({ number, protocol, name }));
  return { sourceIds, ports, names: new Set(byName.keys()), renames, notes };
}

/** An instance's ports under the host's kept names (sorted), or undefined when it serves none of them. */
function instancePorts(
  ports: Record<string, number>,
  merged: MergedPorts,
  source: string,
): Record<string, number> | undefined {
  const rename = merged.renames.get(source);
  return sortedRecord(rename ? renamed(ports, rename) : ports, (n) => merged.names.has(n));
}

/**
 * Whether some instance of the host serves only some of its ports (projection/split-ports.ts): istiod would list it
 * under the others too.
 */
export function servesSomePortsOnly(fold: ServiceFold, merged: MergedPorts = mergePorts(fold)): boolean {
  const all = merged.ports.length;
  if (all < 2) return false;
  for (const id of merged.sourceIds) {
    for (const inst of fold.sources[id]!.instances) {
      const ports = instancePorts(inst.ports, merged, id);
      if (ports !== undefined && Object.keys(ports).length < all) return true;
    }
  }
  return false;
}

/**
 * Builds the ServiceEntry of one mesh service from every source that feeds it (ports merged by `mergePorts`),
 * canonically ordered so equal input gives equal bytes.
 */
export function buildServiceEntry(fold: ServiceFold): BuildResult {
  const merged = mergePorts(fold);
  const { sourceIds, ports } = merged;
  const notes = [...merged.notes];

  const endpoints: ServiceEntryBody['endpoints'] = [];
  const sortKeys: string[] = [];
  // An instance two sources both report (Dubbo's multiple registries, a fleet moving from one registry to another) is
  // one endpoint: istiod would hand sidecars the address twice, and the instance would get two shares of the traffic.
  // The first source in id order serves it; the next one takes over, without a gap, when that one drops it.
  const seen = sourceIds.length > 1 ? new Map<string, string>() : undefined;
  const shared: string[] = [];
  // Several sources: every weight on one scale (sharedWeight), published only when they differ. One source: its
  // weights as its collector published them (already left out when equal).
  const weights: number[] | undefined = sourceIds.length > 1 ? [] : undefined;
  for (const id of sourceIds) {
    const kind = fold.sources[id]!.sourceKind;
    for (const inst of fold.sources[id]!.instances) {
      const epPorts = instancePorts(inst.ports, merged, id);
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
      if (weights) weights.push(sharedWeight(kind, inst.weight));
      else if (inst.weight > 0) ep.weight = inst.weight;
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
  if (weights?.some((w) => w !== weights[0])) {
    for (let i = 0; i < endpoints.length; i++) endpoints[i]!.weight = weights[i]!;
  }
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

/** The port map with names renamed; a name the instance already has is not overwritten by a renamed one. */
function renamed(ports: Record<string, number>, rename: ReadonlyMap<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, port] of Object.entries(ports)) if (!rename.has(name)) out[name] = port;
  for (const [name, port] of Object.entries(ports)) {
    const to = rename.get(name);
    if (to !== undefined && !(to in out)) out[to] = port;
  }
  return out;
}

/** `name=port,...` of a record already in key order. */
function portsText(ports: Record<string, number>): string {
  return Object.entries(ports)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
