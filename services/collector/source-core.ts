import type { SourceConfig } from '../../services/shared/config.ts';
import type { Logger } from '../../services/shared/log.ts';
import {
  decide,
  evolve,
  handle,
  initialDeciderState,
  isPublished,
  type CollectorEvent,
  type DeciderConfig,
  type DeciderState,
  type Observation,
} from './decider.ts';
import type { CollectorMetrics } from './metrics.ts';
import type { Problem } from './problems.ts';
import type { EventSink } from './publisher.ts';

/**
 * Where a registry adapter's observations go: the decider decides, this hands the decided events to the publisher in
 * decision order (so a re-read's marker follows every event decided before it) and reports problems, holds and
 * drops. Observations are handled synchronously up to the Kafka queue; the returned promise is Kafka's answer.
 */
export class SourceCore {
  readonly state: DeciderState = initialDeciderState();
  private readonly cfg: DeciderConfig;
  private instances = 0;

  constructor(
    private readonly src: SourceConfig,
    private readonly publisher: EventSink,
    private readonly log: Logger,
    private readonly metrics: CollectorMetrics,
    /** Id of the current full re-read, stamped on every event. */
    private readonly generation: () => string,
    opts: { emitOrderToken: boolean },
  ) {
    this.cfg = { emptyProtection: src.emptyProtection, emitOrderToken: opts.emitOrderToken };
  }

  /**
   * Decides and publishes one observation. `raw` is the registry's own data behind it (kept in the event for
   * audits). Rejects when Kafka did not take an event; the hosts concerned are then published again by the next
   * observation of their keys (the caller re-reads them).
   */
  async observe(obs: Observation, raw?: unknown): Promise<CollectorEvent[]> {
    const events = decide(this.state, obs, this.cfg);
    const writes: { hostKey: string | undefined; p: Promise<void> }[] = [];
    for (const e of events) {
      if (e.type === 'host-published' || e.type === 'host-removed')
        this.instances -= this.state.hosts.get(e.hostKey)?.instances ?? 0;
      evolve(this.state, e);
      this.report(e);
      if (isPublished(e))
        writes.push({ hostKey: e.type === 'resync-ended' ? undefined : e.hostKey, p: this.write(e, obs, raw) });
    }
    const results = await Promise.allSettled(writes.map((w) => w.p));
    const failed = writes.filter((_, i) => results[i]!.status === 'rejected');
    if (failed.length > 0) {
      handle(
        this.state,
        { type: 'unconfirmed', hosts: failed.flatMap((w) => (w.hostKey ? [w.hostKey] : [])) },
        this.cfg,
      );
      throw (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
    }
    return events;
  }

  /** Registry keys currently mapping to a mesh host (named in a merged host's audit data). */
  private keysOf(hostKey: string): string[] {
    return [...(this.state.hostKeys.get(hostKey) ?? [])];
  }

  /** Every current problem, for /debug/problems. */
  problems(): Problem[] {
    return [...this.state.problems.values()].flatMap((m) => [...m.values()]);
  }

  private write(
    e: Extract<CollectorEvent, { type: 'host-published' | 'host-removed' | 'resync-ended' }>,
    obs: Observation,
    raw: unknown,
  ): Promise<void> {
    const generation = this.generation();
    switch (e.type) {
      case 'host-published': {
        const members = this.keysOf(e.hostKey);
        const trigger = 'key' in obs ? obs.key : obs.type;
        // Merged hosts say which registry key's observation this is; the raw data is that key's.
        const audit =
          members.length > 1 || obs.type !== 'present'
            ? { trigger, registryServices: members, ...(obs.type === 'present' ? { raw } : {}) }
            : raw;
        return this.publisher.publishState(e.publish, generation, audit);
      }
      case 'host-removed':
        return this.publisher.publishRemoval(e.namespace, e.host, e.registryService, e.token, generation);
      case 'resync-ended':
        return this.publisher.publishResyncEnd(generation, e.hosts);
    }
  }

  private report(e: CollectorEvent): void {
    const source = this.src.id;
    const kind = this.src.kind;
    switch (e.type) {
      case 'problem-raised': {
        const p = e.problem;
        this.metrics.rejectedData.inc({ source, kind, field: p.metricField, reason: p.metricReason });
        this.metrics.problems.inc({ source, kind, field: p.metricField, reason: p.metricReason });
        if (p.metricReason === 'host-collision') this.metrics.collisions.inc({ source });
        this.log.warn(
          { source, ...subjectFields(p), field: p.field, value: p.value, reason: p.reason, action: p.action },
          'registry data not usable as-is',
        );
        return;
      }
      case 'problem-cleared': {
        const p = e.problem;
        this.metrics.problems.dec({ source, kind, field: p.metricField, reason: p.metricReason });
        if (p.metricReason === 'host-collision') this.metrics.collisions.dec({ source });
        this.log.info(
          { source, ...subjectFields(p), field: p.field, value: p.value, reason: p.reason },
          'registry data problem gone',
        );
        return;
      }
      case 'empty-held':
        this.metrics.emptyProtected.inc({ source });
        this.log.warn(
          { source, service: e.registryService, host: e.hostKey, previous: e.previous },
          'service suddenly reports zero instances; keeping the last state (emptyProtection: keep-last)',
        );
        return;
      case 'resync-ended':
        if (e.dropped.length > 0) {
          this.log.info(
            { source, dropped: e.dropped.length, services: e.dropped.slice(0, 20) },
            'full resync: registry services not observed since it began are gone; removing them',
          );
        }
        this.metrics.services.set({ source }, this.state.hosts.size);
        return;
      case 'host-published':
      case 'host-removed':
        // Kept incrementally: the count before the event was subtracted in observe(), the new one is added here.
        this.instances += this.state.hosts.get(e.hostKey)?.instances ?? 0;
        this.metrics.services.set({ source }, this.state.hosts.size);
        this.metrics.instances.set({ source }, this.instances);
        return;
      default:
        return;
    }
  }
}

/** `service <registry key>` -> { service: key }; `host <ns/host>` -> { host }: log fields operators filter on. */
function subjectFields(p: Problem): Record<string, string> {
  const space = p.subject.indexOf(' ');
  return { [p.subject.slice(0, space)]: p.subject.slice(space + 1) };
}
