import { decodeEvent, writerSchemaOf } from '../../schemas/event-codec.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { Replay } from '../../projection/replay.ts';
import { validateContribution, type IgnoreReason } from '../../projection/evolve.ts';
import { resourceField } from '../../snapshot-store/resource-field.ts';
import { serviceKey } from '../../projection/fold-state.ts';
import { hostEntryName, hostEntryNames } from '../../schemas/port-entry-name.ts';
import { diffServiceEntry, type ServiceChange } from './instance-diff.ts';
import { toKubeObject } from './render-yaml.ts';
import type { TopicMessage } from './topic-reader.ts';

/** One event in a service's timeline, and what it did. */
export interface HistoryRecord {
  partition: number;
  offset: string;
  /** Kafka record time. */
  time: string;
  observedAt: string;
  schema: string;
  kind: RegistryEvent['kind'];
  eventId: string;
  sourceId: string;
  sourceKind: string;
  collectorId: string;
  collectorVersion: string;
  epoch: number;
  generation: string;
  orderToken: number | null;
  service: string;
  registryService: string;
  instances: number;
  /**
   * applied: changed what istiod receives; unchanged: applied but nothing istiod sees moved (duplicate, same state, or
   * a fenced/ older token update of bookkeeping only); ignored: not applied, with the reason.
   */
  outcome: 'applied' | 'unchanged' | 'ignored';
  reason?: IgnoreReason;
  /** Human explanation of an ignore (e.g. "epoch 17 < 42, the newest seen for zk1 in partition 2"). */
  detail?: string;
  problems?: string[];
  /** The merged ServiceEntry failed istiod's rules after this event: not published, the previous version kept. */
  rejected?: string[];
  change?: ServiceChange;
  /**
   * Every ServiceEntry of the host that changed, when more than one did: a host whose endpoints serve different ports
   * is published as one ServiceEntry with every port and one per port (projection/split-ports.ts). `change` is the
   * first of these.
   */
  changes?: ServiceChange[];
  /** Problems the collector found in the registry data (dropped or rewritten), carried in the event. */
  dataIssues: { field: string; value: string; reason: string; action: string }[];
}

/** Matches the operator's argument: a mesh host, "namespace/host", or the registry's own service name. */
export function matches(arg: string, e: RegistryEvent): boolean {
  return (
    e.host === arg || serviceKey(e.namespace, e.host) === arg || (e.registryService !== '' && e.registryService === arg)
  );
}

/**
 * Builds the timeline of one service while the topic is folded. Events that do not concern the service are folded in
 * bulk; an event that does (or a resync marker, which may remove it) is folded alone so its own effect is known: the
 * ServiceEntry before and after it, or why the fold ignored it (checked against the partition's state before it).
 */
export class HistoryTracker {
  readonly records: HistoryRecord[] = [];
  /** Service keys the argument resolved to (a registry service name may map to a key only known from its events). */
  readonly keys = new Set<string>();
  private readonly replays = new Map<number, Replay>();
  private readonly pending = new Map<number, RegistryEvent[]>();
  events = 0;
  undecodable = 0;

  constructor(private readonly arg: string) {}

  feed(partition: number, messages: TopicMessage[]): void {
    let replay = this.replays.get(partition);
    if (!replay) {
      replay = new Replay();
      this.replays.set(partition, replay);
    }
    let pending = this.pending.get(partition) ?? [];
    for (const m of messages) {
      this.events++;
      let e: RegistryEvent;
      try {
        if (!m.value) throw new Error('empty');
        e = decodeEvent(m.value);
      } catch {
        this.undecodable++;
        continue; // the projector dead-letters it: it has no effect
      }
      const key = serviceKey(e.namespace, e.host);
      const concerns =
        e.kind === 'RESYNC_END'
          ? [...this.keys].some((k) => replay!.resources.has(resourceField('ServiceEntry', k)) || stateHas(replay!, k))
          : this.keys.has(key) || matches(this.arg, e);
      if (!concerns) {
        pending.push(e);
        if (pending.length >= 20_000) {
          replay.apply(0, pending);
          pending = [];
        }
        continue;
      }
      if (pending.length > 0) {
        replay.apply(0, pending);
        pending = [];
      }
      if (e.kind !== 'RESYNC_END') this.keys.add(key);
      const rec = this.applyOne(replay, partition, m, e);
      if (rec) this.records.push(rec);
    }
    if (pending.length > 0) {
      replay.apply(0, pending);
      pending = [];
    }
    this.pending.set(partition, pending);
  }

  private applyOne(replay: Replay, partition: number, m: TopicMessage, e: RegistryEvent): HistoryRecord | undefined {
    const state = replay.partitions.get(0);
    const knownEpoch = state?.epochs.get(e.sourceId);
    const key = serviceKey(e.namespace, e.host);
    const prevToken = state?.services.get(key)?.sources[e.sourceId]?.orderToken ?? null;
    const watched = e.kind === 'RESYNC_END' ? [...this.keys] : [key];
    const fieldsBefore = watched.map((k) => hostFields(replay, k));
    const before = new Map(fieldsBefore.flat().map((f) => [f, replay.resources.get(f)]));
    const fx = replay.apply(0, [e]);
    const reason = Object.keys(fx.ignored)[0] as IgnoreReason | undefined;
    const base = {
      partition,
      offset: m.offset.toString(),
      time: new Date(m.timestamp).toISOString(),
      observedAt: new Date(e.observedAt).toISOString(),
      schema: (writerSchemaOf(m.value!) ?? 'unknown').replace(/^registry-event\.|\.avsc$/g, ''),
      kind: e.kind,
      eventId: e.eventId,
      sourceId: e.sourceId,
      sourceKind: e.sourceKind,
      collectorId: e.collectorId,
      collectorVersion: e.collectorVersion ?? '',
      epoch: e.epoch,
      generation: e.generation,
      orderToken: e.orderToken,
      registryService: e.registryService,
      instances: e.instances.length,
      dataIssues: e.issues.map((i) => ({ ...i })),
    };
    if (reason) {
      const detail =
        reason === 'stale-epoch'
          ? `epoch ${e.epoch} < ${knownEpoch}, the newest seen for ${e.sourceId} in partition ${partition}: a superseded collector`
          : reason === 'older-order-token'
            ? `registry order token ${e.orderToken} < ${prevToken} already applied for ${e.sourceId}`
            : reason === 'redelivered'
              ? `sequence ${e.seq} of epoch ${e.epoch} is earlier than the event already applied from that publisher: a re-delivery`
              : reason === 'removed-later'
                ? `sequence ${e.seq} of epoch ${e.epoch} is earlier than the removal already applied from that publisher: it cannot revive the service`
                : reason === 'invalid'
                  ? 'istiod would reject this state; the previous valid state stays'
                  : 'event has no namespace/host';
      return {
        ...base,
        service: key,
        outcome: 'ignored',
        reason,
        detail,
        ...(reason === 'invalid' ? { problems: validateContribution(e) } : {}),
      };
    }
    const rejected = fx.rejected.filter((r) => watched.includes(r.key)).flatMap((r) => r.problems);
    const changes = watched.flatMap((k, i) => {
      const fields = [...new Set([...fieldsBefore[i]!, ...hostFields(replay, k)])].sort();
      return fields.flatMap((field) => {
        const a = before.get(field);
        const b = replay.resources.get(field);
        if ((!a && !b) || (a && b && a.equals(b))) return [];
        return [diffServiceEntry(field, a && toKubeObject(a), b && toKubeObject(b))];
      });
    });
    if (e.kind === 'RESYNC_END') {
      // A marker matters to this history only when it removed (or changed) the service.
      if (changes.length === 0) return undefined;
      const c = changes[0]!;
      return {
        ...base,
        service: hostEntryName(c.resource.slice(c.resource.indexOf('|') + 1)),
        outcome: 'applied',
        change: c,
        ...(changes.length > 1 ? { changes } : {}),
        detail: `not observed by ${e.sourceId}'s full resync ${e.generation}: removed`,
      };
    }
    return {
      ...base,
      service: key,
      outcome: changes.length > 0 ? 'applied' : 'unchanged',
      ...(changes[0] ? { change: changes[0] } : {}),
      ...(changes.length > 1 ? { changes } : {}),
      ...(rejected.length > 0 ? { rejected } : {}),
    };
  }
}

/** The resource fields of a host: its ServiceEntry, or the split ones (projection/split-ports.ts). */
function hostFields(replay: Replay, key: string): string[] {
  const split = replay.partitions.get(0)?.services.get(key)?.splitPorts;
  return hostEntryNames(key, split).map((name) => resourceField('ServiceEntry', name));
}

function stateHas(replay: Replay, key: string): boolean {
  return replay.partitions.get(0)?.services.has(key) ?? false;
}
