import type { ServicePortSpec } from '../../schemas/registry-event.ts';
import { SOURCE_LABEL, SOURCES_ANNOTATION } from '../../schemas/mesh-labels.ts';
import { emptyProtectionDecision, type ExpectedHost, type RegistryRead } from '../../schemas/registry-read.ts';
import { buildServiceEntry } from '../../projection/build-service-entry.ts';
import { evolve, type Evolution } from '../../projection/evolve.ts';
import type { FoldEvent, PartitionState, ServiceFold, SourceContribution } from '../../projection/fold-state.ts';
import { diffServiceEntry, type Endpoint, type EndpointChange } from './instance-diff.ts';
import { toKubeObject, type KubeServiceEntry } from './render-yaml.ts';
import { parseResourceField } from '../../snapshot-store/resource-field.ts';
import { hostEntryName } from '../../schemas/port-entry-name.ts';

/**
 * `meshbridge verify --registry`, the pure part: what a fresh read of each registry says the mesh should hold, against
 * what the live snapshot in Redis holds, per source and mesh host; and the settle rule that keeps changes in flight
 * (registered a moment ago, not yet through Kafka and the projector) from being reported.
 *
 * The expected side is what the collector would publish now (its decider, over a complete read of the registry). It is
 * turned into what the mesh should then hold with the projector's own rules: its `evolve` applies that state to the
 * live fold of the host (so other sources feeding the same host keep what they said, and the projector's rules — ports
 * kept when the last instance leaves, states istiod would reject ignored — apply), and `buildServiceEntry` builds the
 * ServiceEntry. Only this source's part is compared: its endpoints (label meshbridge.io/source), its presence in the
 * ServiceEntry's `meshbridge.io/sources`, the resulting service ports, and its contribution in the projector's fold.
 */

/** A ServiceEntry as the live snapshot serves it, reduced to what is compared. */
export interface LiveEntry {
  /** Source ids in the `meshbridge.io/sources` annotation. */
  sources: string[];
  ports: ServicePortSpec[];
  endpoints: Endpoint[];
  /** Set when the stored bytes do not decode (nothing else is then known). */
  decodeError?: string;
}

/** The live snapshot in Redis: served ServiceEntries and the projector's fold, by mesh key. */
export interface LiveMesh {
  version: number;
  lineage: string;
  complete: boolean;
  entries: Map<string, LiveEntry>;
  folds: Map<string, ServiceFold>;
}

export type DifferenceKind = 'missing-in-mesh' | 'extra-in-mesh' | 'differs';

/** How one mesh host differs between a registry and the mesh, for one source. Endpoint lists are that source's only. */
export interface HostDifference {
  source: string;
  /** namespace/host */
  host: string;
  /** Registry key(s), when the registry has the host. */
  registryService?: string;
  what: DifferenceKind;
  /** missing-in-mesh: the endpoints the registry has. extra-in-mesh: none. differs: in the registry, not in the mesh. */
  missingEndpoints: Endpoint[];
  /** In the mesh, not in the registry (extra-in-mesh: every endpoint of this source the mesh serves). */
  extraEndpoints: Endpoint[];
  /** Same address and ports, other labels/weight/locality: registry value -> mesh value. */
  changedEndpoints: EndpointChange[];
  /** The ServiceEntry's ports, when they differ (JSON, as `name:number/protocol` lists). */
  ports?: { registry: string[]; mesh: string[] };
  /**
   * The projector's stored fold for this source (what the next change to the host is built from): missing, extra, or
   * different from what the registry says — also when the served ServiceEntry itself agrees.
   */
  fold?: 'missing' | 'extra' | 'differs';
  notes: string[];
}

/** A host whose registry state is empty while the mesh keeps its last endpoints, as `emptyProtection: keep-last` wants. */
export interface HeldHost {
  source: string;
  host: string;
  meshEndpoints: number;
}

export interface SourceSummary {
  id: string;
  kind: string;
  registryServices: number;
  registryHosts: number;
  registryEndpoints: number;
  meshHosts: number;
  meshEndpoints: number;
}

export interface Comparison {
  differences: HostDifference[];
  held: HeldHost[];
  sources: SourceSummary[];
  /** Sources the mesh holds hosts from that are not configured (not compared): id -> hosts. */
  unconfigured: Record<string, number>;
}

/** A stored resource (MCP Any bytes) as compared; bytes that do not decode are a difference of their own. */
export function liveEntryOf(bytes: Uint8Array): LiveEntry {
  try {
    const se = toKubeObject(bytes);
    const spec = se.spec as { ports?: ServicePortSpec[]; endpoints?: Endpoint[] };
    const sources = (se.metadata.annotations?.[SOURCES_ANNOTATION] ?? '').split(',').filter(Boolean);
    return { sources, ports: spec.ports ?? [], endpoints: spec.endpoints ?? [] };
  } catch (e) {
    return { sources: [], ports: [], endpoints: [], decodeError: (e as Error).message };
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const portText = (p: ServicePortSpec) => `${p.name}:${p.number}/${p.protocol}`;
const ofSource = (id: string) => (e: Endpoint) => e.labels?.[SOURCE_LABEL] === id;

/** Canonical text of a value: object keys sorted at every level, so key order never makes a difference. */
function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => cmp(a, b)))
      : x,
  );
}

/** The form compared: address, ports, labels; weight and locality only when set (the ServiceEntry omits defaults). */
function endpointOf(e: Endpoint): Endpoint {
  return {
    address: e.address,
    ports: e.ports ?? {},
    labels: e.labels ?? {},
    ...(e.weight ? { weight: e.weight } : {}),
    ...(e.locality ? { locality: e.locality } : {}),
  };
}

/**
 * An endpoint once per port it serves: how a host split by port lists it (projection/split-ports.ts). Both sides are
 * compared in this form, so a host published whole or split compares the same.
 */
const perPort = (e: Endpoint): Endpoint[] => {
  const ports = Object.entries(e.ports ?? {});
  return ports.length <= 1 ? [e] : ports.map(([name, number]) => ({ ...e, ports: { [name]: number } }));
};

/** The live entries by mesh host, from the snapshot's resources (field -> MCP bytes). */
export function liveEntriesOf(resources: Iterable<[string, Uint8Array]>): Map<string, LiveEntry> {
  // A host split by port is several ServiceEntries: compared as one.
  const parts = new Map<string, LiveEntry[]>();
  for (const [field, bytes] of resources) {
    const { kind, name } = parseResourceField(field);
    if (kind !== 'ServiceEntry') continue;
    const host = hostEntryName(name);
    const list = parts.get(host);
    if (list) list.push(liveEntryOf(bytes));
    else parts.set(host, [liveEntryOf(bytes)]);
  }
  const entries = new Map<string, LiveEntry>();
  for (const [host, list] of parts) entries.set(host, list.length === 1 ? list[0]! : mergeLiveEntries(list));
  return entries;
}

/**
 * The live entry of a host from every ServiceEntry it is published as: whole, or split by port (`~*` with every port
 * and the sources, one per port with its endpoints).
 */
function mergeLiveEntries(parts: LiveEntry[]): LiveEntry {
  const failed = parts.find((p) => p.decodeError);
  if (failed) return failed;
  const ports = new Map<number, ServicePortSpec>();
  for (const p of parts) for (const port of p.ports) if (!ports.has(port.number)) ports.set(port.number, port);
  // An endpoint is listed once per port it serves: put it back together (same address and attributes, no port name
  // twice), so endpoint counts are the registry's.
  const byIdentity = new Map<string, Endpoint[]>();
  const endpoints: Endpoint[] = [];
  for (const p of parts) {
    for (const e of p.endpoints) {
      const id = canon([e.address, e.labels ?? {}, e.weight ?? 0, e.locality ?? '']);
      const same = byIdentity.get(id) ?? [];
      const names = Object.keys(e.ports ?? {});
      const into = same.find((x) => names.every((n) => !(n in (x.ports ?? {}))));
      if (into) {
        into.ports = { ...into.ports, ...e.ports };
        continue;
      }
      const copy = { ...e, ports: { ...e.ports } };
      byIdentity.set(id, [...same, copy]);
      endpoints.push(copy);
    }
  }
  return {
    sources: [...new Set(parts.flatMap((p) => p.sources))].sort(cmp),
    ports: [...ports.values()].sort((a, b) => a.number - b.number),
    endpoints,
  };
}

const portsOf = (list: ServicePortSpec[]) =>
  list.map((p) => ({ number: p.number, protocol: p.protocol, name: p.name }));

function contributionText(c: SourceContribution | undefined): string {
  if (!c) return '';
  const instances = c.instances.map((i) => canon({ ...i, metadata: i.metadata ?? {} })).sort(cmp);
  return canon({ ports: [...c.ports].sort((a, b) => cmp(a.name, b.name)), instances });
}

/**
 * What the mesh should hold for one host once the registry's state (or its absence) is folded into the live fold, by
 * the projector's own `evolve` and `buildServiceEntry`.
 */
function expectedMesh(
  source: RegistryRead,
  key: string,
  exp: ExpectedHost | undefined,
  liveFold: ServiceFold | undefined,
): {
  fold: ServiceFold | undefined;
  evolution: Evolution;
  entry: ReturnType<typeof buildServiceEntry> | undefined;
} {
  const state: PartitionState = {
    services: new Map(liveFold ? [[key, structuredClone(liveFold)]] : []),
    epochs: new Map(),
    tombstones: new Map(),
  };
  const prev = liveFold?.sources[source.sourceId];
  const [namespace, host] = exp ? [exp.namespace, exp.host] : [liveFold?.namespace ?? '', liveFold?.host ?? ''];
  // The same epoch as the folded contribution and no order token: the fold takes it as the newest word of the source.
  const event: FoldEvent = {
    eventId: 'verify-registry',
    kind: exp ? 'SERVICE_STATE' : 'SERVICE_REMOVED',
    sourceId: source.sourceId,
    sourceKind: source.kind,
    epoch: prev?.epoch ?? 0,
    observedAt: liveFold?.createTimeMs ?? 0,
    namespace,
    host,
    registryService: exp?.registryService ?? '',
    orderToken: null,
    ports: exp?.ports ?? [],
    instances: exp?.instances ?? [],
    resyncServices: [],
  };
  const evolution = evolve(state, event);
  const fold = state.services.get(key);
  // The projector serves no ServiceEntry for a host no source ever gave a port (e.g. a Dubbo interface without providers).
  const entry =
    fold && Object.values(fold.sources).some((c) => c.ports.length > 0) ? buildServiceEntry(fold) : undefined;
  return { fold, evolution, entry };
}

/** One source's endpoints as a ServiceEntry, so the audit's instance-level diff compares them. */
const asKube = (endpoints: Endpoint[]): KubeServiceEntry => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { creationTimestamp: '', name: '', namespace: '', resourceVersion: '' },
  spec: { endpoints },
});

/** Compares one host for one source; undefined when equal (or held by emptyProtection, reported in `held`). */
function compareHost(source: RegistryRead, key: string, live: LiveMesh, held: HeldHost[]): HostDifference | undefined {
  const id = source.sourceId;
  const exp = source.hosts.get(key);
  const liveEntry = live.entries.get(key);
  const liveFold = live.folds.get(key);
  const liveEps = (liveEntry?.endpoints ?? []).filter(ofSource(id)).flatMap(perPort).map(endpointOf);
  const liveContribution = liveFold?.sources[id];

  if (exp && exp.instances.length === 0) {
    const meshCount = liveContribution?.instances.length ?? liveEps.length;
    if (emptyProtectionDecision(source.emptyProtection, meshCount, 0) === 'hold') {
      held.push({ source: id, host: key, meshEndpoints: meshCount });
      return undefined;
    }
  }

  const d: HostDifference = {
    source: id,
    host: key,
    ...(exp ? { registryService: exp.registryService } : {}),
    what: 'differs',
    missingEndpoints: [],
    extraEndpoints: [],
    changedEndpoints: [],
    notes: [],
  };
  const { fold, evolution, entry } = expectedMesh(source, key, exp, liveFold);
  if (evolution.ignored === 'invalid') {
    d.notes.push(
      `istiod would reject the registry's state (${(evolution.problems ?? []).join('; ')}): the projector keeps the last valid one`,
    );
  }
  const expContribution = fold?.sources[id];
  if (expContribution && !liveContribution) d.fold = 'missing';
  else if (!expContribution && liveContribution) d.fold = 'extra';
  else if (contributionText(expContribution) !== contributionText(liveContribution)) d.fold = 'differs';

  if (liveEntry?.decodeError) {
    d.notes.push(`the live ServiceEntry does not decode: ${liveEntry.decodeError}`);
    if (exp) d.what = 'missing-in-mesh';
    return d;
  }
  if (entry && !entry.ok) {
    // The projector keeps the previous ServiceEntry when the merged one would be rejected: nothing to build it from.
    d.notes.push(
      `the ServiceEntry merged over every source would be rejected by istiod (${entry.error.join('; ')}): the projector keeps the previous one; endpoints not compared`,
    );
    return d.fold || d.notes.length > 1 ? d : undefined;
  }
  const expEntry = entry?.ok ? entry.value : undefined;
  const expEps = (expEntry?.body.endpoints ?? []).filter(ofSource(id)).flatMap(perPort).map(endpointOf);
  const expListed = Boolean(expEntry && expContribution);
  const liveListed = Boolean(liveEntry?.sources.includes(id));

  if (expListed && !liveListed) {
    d.what = 'missing-in-mesh';
    d.missingEndpoints = expEps;
    d.extraEndpoints = liveEps; // endpoints labelled with this source although the entry does not list it
    return d;
  }
  if (!exp && (liveListed || liveEps.length > 0)) {
    d.what = 'extra-in-mesh';
    d.extraEndpoints = liveEps;
    return d;
  }
  const change = diffServiceEntry(key, asKube(expEps), asKube(liveEps));
  d.missingEndpoints = change.removed;
  d.extraEndpoints = change.added;
  d.changedEndpoints = change.changed;
  if (expEntry && liveEntry) {
    const registry = portsOf(expEntry.body.ports).map(portText);
    const mesh = portsOf(liveEntry.ports).map(portText);
    if (registry.join() !== mesh.join()) d.ports = { registry, mesh };
  }
  const differs =
    d.missingEndpoints.length + d.extraEndpoints.length + d.changedEndpoints.length > 0 ||
    d.ports ||
    d.fold ||
    d.notes.length > 0;
  return differs ? d : undefined;
}

/** Every configured source's registry against the live mesh. */
export function compareWithMesh(reads: RegistryRead[], live: LiveMesh): Comparison {
  const differences: HostDifference[] = [];
  const held: HeldHost[] = [];
  const sources: SourceSummary[] = [];
  for (const source of reads) {
    const id = source.sourceId;
    const meshHosts = new Set<string>();
    let meshEndpoints = 0;
    for (const [key, e] of live.entries) {
      const n = e.endpoints.filter(ofSource(id)).length;
      meshEndpoints += n;
      if (e.sources.includes(id) || n > 0) meshHosts.add(key);
    }
    const keys = new Set([...source.hosts.keys(), ...meshHosts]);
    for (const [key, f] of live.folds) if (f.sources[id]) keys.add(key);
    for (const key of [...keys].sort(cmp)) {
      const d = compareHost(source, key, live, held);
      if (d) differences.push(d);
    }
    sources.push({
      id,
      kind: source.kind,
      registryServices: source.registryServices,
      registryHosts: source.hosts.size,
      registryEndpoints: [...source.hosts.values()].reduce((n, h) => n + h.instances.length, 0),
      meshHosts: meshHosts.size,
      meshEndpoints,
    });
  }
  const configured = new Set(reads.map((r) => r.sourceId));
  const unconfigured: Record<string, number> = {};
  for (const e of live.entries.values())
    for (const s of e.sources) if (!configured.has(s)) unconfigured[s] = (unconfigured[s] ?? 0) + 1;
  return { differences, held, sources, unconfigured };
}

/**
 * The identities of what a difference says, stable across rounds: a change in flight (a provider registered a moment
 * ago) shows up as different items in successive rounds, or disappears; a wrong state repeats the same ones.
 */
export function differenceItems(d: HostDifference): string[] {
  const at = `${d.source}|${d.host}|`;
  if (d.what !== 'differs') return [at + d.what];
  return [
    ...d.missingEndpoints.map((e) => `${at}endpoint-missing ${canon(endpointOf(e))}`),
    ...d.extraEndpoints.map((e) => `${at}endpoint-extra ${canon(endpointOf(e))}`),
    ...d.changedEndpoints.map((c) => `${at}endpoint-changed ${c.endpoint} ${canon(c.changes)}`),
    ...(d.ports ? [`${at}ports ${canon(d.ports)}`] : []),
    ...(d.fold ? [`${at}fold ${d.fold}`] : []),
    ...d.notes.map((n) => `${at}note ${n}`),
  ];
}

/** The part of a difference whose items are all in `keep`; undefined when nothing is left. */
export function restrictDifference(d: HostDifference, keep: Set<string>): HostDifference | undefined {
  const at = `${d.source}|${d.host}|`;
  if (d.what !== 'differs') return keep.has(at + d.what) ? d : undefined;
  const out: HostDifference = {
    ...d,
    missingEndpoints: d.missingEndpoints.filter((e) => keep.has(`${at}endpoint-missing ${canon(endpointOf(e))}`)),
    extraEndpoints: d.extraEndpoints.filter((e) => keep.has(`${at}endpoint-extra ${canon(endpointOf(e))}`)),
    changedEndpoints: d.changedEndpoints.filter((c) =>
      keep.has(`${at}endpoint-changed ${c.endpoint} ${canon(c.changes)}`),
    ),
    notes: d.notes.filter((n) => keep.has(`${at}note ${n}`)),
  };
  if (d.ports && !keep.has(`${at}ports ${canon(d.ports)}`)) delete out.ports;
  if (d.fold && !keep.has(`${at}fold ${d.fold}`)) delete out.fold;
  return differenceItems(out).length > 0 ? out : undefined;
}

export interface SettleOptions {
  /** Most comparisons (rounds); the first that finds nothing persisting ends it. */
  rounds: number;
  /** Pause between rounds: time for changes in flight to reach the snapshot. */
  settleMs: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called after each round that leaves something to re-check, before the pause. */
  onRound?: (round: number, comparison: Comparison, persisting: number) => void;
}

export interface RegistryVerifyOutcome {
  equal: boolean;
  rounds: number;
  settleMs: number;
  /** Differences seen in every round (their last round's form). */
  differences: HostDifference[];
  /** Hosts that differed in some round but not persistently: changes in flight. */
  settled: string[];
  /** The last round's comparison (summaries, held hosts, unconfigured sources). */
  last: Comparison;
}

/**
 * The settle rule: compare; while anything differs, wait and compare again (registry and mesh both read afresh), up to
 * `rounds` times. Only items of a difference present in every round are reported: a change in flight resolves, or
 * changes shape, within a round or two; a wrong snapshot (a live service deleted) stays exactly as wrong.
 */
export async function verifyWithSettle(
  compare: () => Promise<Comparison>,
  opts: SettleOptions,
): Promise<RegistryVerifyOutcome> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const seen = new Set<string>();
  let persisting: Set<string> | undefined;
  let last!: Comparison;
  let round = 0;
  while (round < opts.rounds) {
    if (round > 0) await sleep(opts.settleMs);
    last = await compare();
    round++;
    const items = new Set(last.differences.flatMap(differenceItems));
    for (const d of last.differences) seen.add(`${d.source}|${d.host}`);
    persisting = persisting ? new Set([...persisting].filter((i) => items.has(i))) : items;
    if (persisting.size === 0) break;
    if (round < opts.rounds) opts.onRound?.(round, last, persisting.size);
  }
  const keep = persisting ?? new Set<string>();
  const differences = last.differences
    .map((d) => restrictDifference(d, keep))
    .filter((d): d is HostDifference => d !== undefined);
  const reported = new Set(differences.map((d) => `${d.source}|${d.host}`));
  return {
    equal: differences.length === 0,
    rounds: round,
    settleMs: opts.settleMs,
    differences,
    settled: [...seen].filter((h) => !reported.has(h)).sort(cmp),
    last,
  };
}
