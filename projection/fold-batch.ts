import { evolve, type IgnoreReason } from './evolve.ts';
import { serviceKey, type FoldEvent, type PartitionState, type ServiceFold, type Tombstone } from './fold-state.ts';
import { buildServiceEntry } from './build-service-entry.ts';
import { splitByPort } from './split-ports.ts';
import { hostEntryNames } from '../schemas/port-entry-name.ts';
import { resourceField } from '../snapshot-store/resource-field.ts';
import { encodeServiceEntryAny } from '../schemas/service-entry/encode.ts';

export interface BatchEffects {
  serviceUpserts: Map<string, ServiceFold>;
  serviceDeletes: string[];
  resourceUpserts: Map<string, Buffer>;
  resourceDeletes: string[];
  epochs: Map<string, number>;
  /** Tombstones set (or, null, dropped) by the batch, by `${source}|${key}`. */
  tombstones: Map<string, Tombstone | null>;
  resyncedSources: string[];
  applied: number;
  ignored: Partial<Record<IgnoreReason, number>>;
  /** Merged ServiceEntries that failed istiod's rules: not published; the previous valid version stays. */
  rejected: { key: string; problems: string[] }[];
  /**
   * Events that can never be applied (invalid by istiod's rules, no identity), by index into the batch, with the
   * reason: the I/O shell sends them to the dead-letter topic with their original bytes.
   */
  deadLetters: { index: number; reason: string }[];
  notes: { key: string; notes: string[] }[];
  /** Hosts published split by port from this batch on, or whole again (projection/split-ports.ts), for logs/metrics. */
  splitChanges: { key: string; to: 'split' | 'whole'; ports: string[] }[];
}

/**
 * Folds a whole batch into the partition state (in place) and computes what to write, coalesced by service: a
 * service touched by many events in the batch is rebuilt and written once.
 *
 * `events` may be a lazy iterable (decoding as it goes): then an event superseded later in the batch is garbage
 * almost as soon as it is decoded, instead of every decoded event of a 20,000-event batch living until the end and
 * being promoted to the old generation (the projector's largest GC cost).
 */
export function foldBatch(state: PartitionState, events: Iterable<FoldEvent>): BatchEffects {
  const changed = new Set<string>();
  const fx: BatchEffects = {
    serviceUpserts: new Map(),
    serviceDeletes: [],
    resourceUpserts: new Map(),
    resourceDeletes: [],
    epochs: new Map(),
    tombstones: new Map(),
    resyncedSources: [],
    applied: 0,
    ignored: {},
    rejected: [],
    deadLetters: [],
    notes: [],
    splitChanges: [],
  };
  const epochsBefore = new Map(state.epochs);
  const tombstonesBefore = new Map(state.tombstones);
  // How each touched split service was published when the batch began: its fold, which says so, may change or go.
  const splitBefore = new Map<string, string[] | undefined>();
  let index = -1;
  for (const e of events) {
    index++;
    rememberSplits(state, e, splitBefore);
    const r = evolve(state, e);
    if (r.ignored) {
      fx.ignored[r.ignored] = (fx.ignored[r.ignored] ?? 0) + 1;
      if (r.ignored === 'invalid')
        fx.deadLetters.push({ index, reason: `invalid for istiod: ${(r.problems ?? []).join('; ')}` });
      else if (r.ignored === 'empty-identity')
        fx.deadLetters.push({ index, reason: `${e.kind} without namespace/host` });
      continue;
    }
    fx.applied++;
    for (const k of r.changed) changed.add(k);
    if (r.resyncedSource && !fx.resyncedSources.includes(r.resyncedSource)) fx.resyncedSources.push(r.resyncedSource);
  }
  for (const [s, e] of state.epochs) if (epochsBefore.get(s) !== e) fx.epochs.set(s, e);
  for (const [k, t] of state.tombstones) if (tombstonesBefore.get(k) !== t) fx.tombstones.set(k, t);
  for (const k of tombstonesBefore.keys()) if (!state.tombstones.has(k)) fx.tombstones.set(k, null);
  for (const key of [...changed].sort()) {
    const svc = state.services.get(key);
    // How the host was published when the batch began (a host the batch touched but did not find split was whole).
    const before = splitBefore.get(key);
    if (!svc) {
      fx.serviceDeletes.push(key);
      unpublish(fx, key, before);
      continue;
    }
    fx.serviceUpserts.set(key, svc);
    if (Object.values(svc.sources).every((c) => c.ports.length === 0)) {
      // Known to the registry but never had an instance (e.g. a Dubbo interface with consumers only): no service.
      unpublish(fx, key, before);
      continue;
    }
    const built = buildServiceEntry(svc);
    if (!built.ok) {
      fx.rejected.push({ key, problems: built.error });
      // The previous version stays published, under the names the fold must remember to delete it by later.
      if (before) svc.splitPorts = before;
      else delete svc.splitPorts;
      continue;
    }
    if (built.value.notes.length > 0) fx.notes.push({ key, notes: built.value.notes });
    const split = svc.splitPorts;
    for (const { meta, body } of splitByPort(built.value, split !== undefined))
      fx.resourceUpserts.set(resourceField('ServiceEntry', meta.name), encodeServiceEntryAny(meta, body));
    if (before || split) unpublish(fx, key, before, hostEntryNames(key, split));
    if (!before !== !split) fx.splitChanges.push({ key, to: split ? 'split' : 'whole', ports: split ?? [] });
  }
  return fx;
}

/** Deletes the names the host was published under (`split`: as projection/split-ports.ts), but those in `keep`. */
function unpublish(fx: BatchEffects, key: string, split: string[] | undefined, keep: readonly string[] = []): void {
  for (const n of hostEntryNames(key, split))
    if (!keep.includes(n)) fx.resourceDeletes.push(resourceField('ServiceEntry', n));
}

/**
 * Records how each service an event may change was published when the batch began (split: its port names; whole:
 * undefined), on the first event that touches it. A resync marker may remove any split service.
 */
function rememberSplits(state: PartitionState, e: FoldEvent, into: Map<string, string[] | undefined>): void {
  if (e.kind === 'RESYNC_END') {
    for (const [key, svc] of state.services) if (svc.splitPorts && !into.has(key)) into.set(key, svc.splitPorts);
    return;
  }
  const key = serviceKey(e.namespace, e.host);
  if (!into.has(key)) into.set(key, state.services.get(key)?.splitPorts);
}
