import {
  serviceKey,
  tombstoneKey,
  TOMBSTONE_TTL_MS,
  type FoldEvent,
  type PartitionState,
  type ServiceFold,
  type SourceContribution,
} from './fold-state.ts';
import { validateServiceEntry } from '../schemas/service-entry/validate.ts';
import { samePorts, sameInstances } from './content-equal.ts';
import { splitAfterChange } from './split-ports.ts';

export type IgnoreReason =
  | 'stale-epoch'
  | 'older-order-token'
  | 'redelivered'
  | 'removed-later'
  | 'empty-identity'
  | 'invalid';

export interface Evolution {
  /** Service keys whose folded state changed (to be rebuilt, or removed when absent from the state). */
  changed: string[];
  ignored?: IgnoreReason;
  /** Why an event was ignored as invalid (istiod's rules), for logs and the dead-letter topic. */
  problems?: string[];
  /** RESYNC_END applied for this source. */
  resyncedSource?: string;
}

/**
 * The projection: applies one event to a partition's state, in place, and reports what changed. A pure function of
 * (state, event) — no clock, no I/O — so replaying the same events gives the same state, and applying an event twice
 * changes nothing the second time.
 */
export function evolve(state: PartitionState, event: FoldEvent): Evolution {
  const known = state.epochs.get(event.sourceId) ?? -Infinity;
  if (event.epoch < known) return { changed: [], ignored: 'stale-epoch' };
  if (event.epoch > known) state.epochs.set(event.sourceId, event.epoch);

  switch (event.kind) {
    case 'SERVICE_STATE':
      return applyState(state, event);
    case 'SERVICE_REMOVED':
      return applyRemoval(state, event);
    case 'RESYNC_END':
      return applyResyncEnd(state, event);
  }
}

function applyState(state: PartitionState, e: FoldEvent): Evolution {
  if (!e.namespace || !e.host) return { changed: [], ignored: 'empty-identity' };
  const key = serviceKey(e.namespace, e.host);
  const svc = state.services.get(key);
  const prev = svc?.sources[e.sourceId];
  if (prev && samePublisherEarlier(e, prev)) return { changed: [], ignored: 'redelivered' };
  const tomb = state.tombstones.get(tombstoneKey(e.sourceId, key));
  if (tomb && samePublisherEarlier(e, tomb)) return { changed: [], ignored: 'removed-later' };
  if (prev && olderThan(e, prev)) return { changed: [], ignored: 'older-order-token' };
  // Validity is decided per event, so the state only ever holds contributions istiod accepts: the previous valid
  // state stays, and the result does not depend on how events were batched (replays are byte-identical).
  const problems = validateContribution(e);
  if (problems.length > 0) return { changed: [], ignored: 'invalid', problems };
  const next: SourceContribution = {
    sourceKind: e.sourceKind,
    registryService: e.registryService,
    // Service-level fields stay stable under churn: when the last instance leaves, keep the ports it had, so the
    // ServiceEntry only loses endpoints (an incremental EDS update in istiod, not a full push).
    ports: e.ports.length === 0 && prev ? prev.ports : e.ports,
    instances: e.instances,
    orderToken: e.orderToken ?? prev?.orderToken ?? null,
    epoch: e.epoch,
    ...(e.seq ? { seq: e.seq } : {}),
    eventId: e.eventId,
    observedAt: e.observedAt,
  };
  if (tomb) state.tombstones.delete(tombstoneKey(e.sourceId, key));
  if (prev && sameContent(prev, next)) {
    // Record the newer token/epoch/seq without reporting a change: nothing istiod sees moved.
    svc!.sources[e.sourceId] = {
      ...prev,
      orderToken: next.orderToken,
      epoch: next.epoch,
      ...(e.seq ? { seq: e.seq } : {}),
    };
    return { changed: [] };
  }
  const fold: ServiceFold = svc ?? { namespace: e.namespace, host: e.host, createTimeMs: e.observedAt, sources: {} };
  fold.sources[e.sourceId] = next;
  state.services.set(key, fold);
  updateSplit(fold);
  return { changed: [key] };
}

function applyRemoval(state: PartitionState, e: FoldEvent): Evolution {
  const key = serviceKey(e.namespace, e.host);
  const svc = state.services.get(key);
  const prev = svc?.sources[e.sourceId];
  if (!svc || !prev) return { changed: [] };
  if (samePublisherEarlier(e, prev)) return { changed: [], ignored: 'redelivered' };
  if (olderThan(e, prev)) return { changed: [], ignored: 'older-order-token' };
  delete svc.sources[e.sourceId];
  if (Object.keys(svc.sources).length === 0) state.services.delete(key);
  else updateSplit(svc);
  bury(state, e, key);
  return { changed: [key] };
}

/** Removes the source's services in this partition that the resync did not observe (deletes missed while down). */
function applyResyncEnd(state: PartitionState, e: FoldEvent): Evolution {
  const observed = new Set(e.resyncServices);
  const changed: string[] = [];
  for (const [key, svc] of state.services) {
    if (svc.sources[e.sourceId] && !observed.has(key)) {
      delete svc.sources[e.sourceId];
      if (Object.keys(svc.sources).length === 0) state.services.delete(key);
      else updateSplit(svc);
      bury(state, e, key);
      changed.push(key);
    }
  }
  // A re-read marker is this source's periodic heartbeat in every partition: prune its tombstones that can no longer
  // matter (an older publisher's: its events are fenced anyway) or that have aged out.
  const prefix = `${e.sourceId}|`;
  for (const [k, t] of state.tombstones) {
    if (k.startsWith(prefix) && (t.epoch < e.epoch || t.at < e.observedAt - TOMBSTONE_TTL_MS))
      state.tombstones.delete(k);
  }
  return { changed, resyncedSource: e.sourceId };
}

/** Whether the host is published split by port (projection/split-ports.ts), kept in its fold. */
function updateSplit(fold: ServiceFold): void {
  const split = splitAfterChange(fold);
  if (split) fold.splitPorts = split;
  else if (fold.splitPorts) delete fold.splitPorts;
}

/** Remembers a removed contribution's publisher position (only events that carry one: v3 and later). */
function bury(state: PartitionState, e: FoldEvent, key: string): void {
  if (e.seq) state.tombstones.set(tombstoneKey(e.sourceId, key), { epoch: e.epoch, seq: e.seq, at: e.observedAt });
}

/**
 * An event written by the same publisher (same epoch) before the one the state reflects: a re-delivery (a duplicate
 * produced again, a topic replayed onto itself). One publisher writes a partition in order, so its sequence numbers
 * only grow; other epochs are decided by fencing. Events without a sequence number (v1/v2) are never judged so.
 */
function samePublisherEarlier(e: FoldEvent, prev: { epoch: number; seq?: number }): boolean {
  return e.epoch === prev.epoch && !!e.seq && !!prev.seq && e.seq < prev.seq;
}

/**
 * Whether the event reports an older registry state than the one folded. Tokens are compared only within one
 * publisher epoch: a newer epoch is a new leader that re-read the registry after taking over, so what it says
 * supersedes anything the previous leader published, whatever the tokens (a host fed by several registry keys can
 * legitimately go back to a lower token when the key with the highest one is deleted).
 */
function olderThan(e: FoldEvent, prev: SourceContribution): boolean {
  return e.epoch === prev.epoch && isOlder(e.orderToken, prev.orderToken);
}

function isOlder(token: number | null, than: number | null): boolean {
  return token !== null && than !== null && token < than;
}

function sameContent(a: SourceContribution, b: SourceContribution): boolean {
  return (
    a.registryService === b.registryService && samePorts(a.ports, b.ports) && sameInstances(a.instances, b.instances)
  );
}

/** istiod's rules applied to what this one event says (its own ports and instances). */
export function validateContribution(e: FoldEvent): string[] {
  return validateServiceEntry({
    hosts: [e.host],
    ports: e.ports.length > 0 ? e.ports : [{ number: 1, protocol: 'TCP', name: 'placeholder' }],
    location: 1,
    resolution: 1,
    endpoints: e.instances.map((i) => ({
      address: i.address,
      ports: e.ports.length > 0 ? i.ports : {},
      labels: i.labels,
    })),
  });
}
