import { serviceKey, type FoldEvent, type PartitionState, type ServiceFold, type SourceContribution } from './fold-state.ts';
import { validateServiceEntry } from './validate-istio.ts';
import { samePorts, sameInstances } from './content-equal.ts';

export type IgnoreReason = 'stale-epoch' | 'older-order-token' | 'empty-identity' | 'invalid';

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
    eventId: e.eventId,
    observedAt: e.observedAt,
  };
  if (prev && sameContent(prev, next)) {
    // Record the newer token/epoch without reporting a change: nothing istiod sees moved.
    svc!.sources[e.sourceId] = { ...prev, orderToken: next.orderToken, epoch: next.epoch };
    return { changed: [] };
  }
  const fold: ServiceFold = svc ?? { namespace: e.namespace, host: e.host, createTimeMs: e.observedAt, sources: {} };
  fold.sources[e.sourceId] = next;
  state.services.set(key, fold);
  return { changed: [key] };
}

function applyRemoval(state: PartitionState, e: FoldEvent): Evolution {
  const key = serviceKey(e.namespace, e.host);
  const svc = state.services.get(key);
  const prev = svc?.sources[e.sourceId];
  if (!svc || !prev) return { changed: [] };
  if (olderThan(e, prev)) return { changed: [], ignored: 'older-order-token' };
  delete svc.sources[e.sourceId];
  if (Object.keys(svc.sources).length === 0) state.services.delete(key);
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
      changed.push(key);
    }
  }
  return { changed, resyncedSource: e.sourceId };
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
  return a.registryService === b.registryService && samePorts(a.ports, b.ports) && sameInstances(a.instances, b.instances);
}

/** istiod's rules applied to what this one event says (its own ports and instances). */
export function validateContribution(e: FoldEvent): string[] {
  return validateServiceEntry({
    hosts: [e.host],
    ports: e.ports.length > 0 ? e.ports : [{ number: 1, protocol: 'TCP', name: 'placeholder' }],
    location: 1,
    resolution: 1,
    endpoints: e.instances.map((i) => ({ address: i.address, ports: e.ports.length > 0 ? i.ports : {}, labels: i.labels })),
  });
}
