import crypto from 'node:crypto';
import type { DataIssue } from '../../schemas/registry-event.ts';
import { emptyProtectionDecision, type EmptyPolicy } from '../../schemas/registry-read.ts';
import { mergeHostStates } from './host-merge.ts';
import { problemId, toProblem, type Problem } from './problems.ts';
import type { ServiceState } from './service-state.ts';

/**
 * The collector's decisions for one source, as a decider: `decide(state, observation)` says what an observation of
 * the registry means (events to publish, problems that appeared or went away) and `evolve(state, event)` records it.
 * Pure — no clock, no I/O — so every rule is unit-tested without servers. The registry adapters (ZooKeeper, Consul)
 * only read and watch; `SourceCore` hands their observations here and the resulting events to Kafka, in order.
 *
 * Two rules carry the product's first promise (a registered service is never missing from istiod):
 * - A full re-read ends with a marker listing every mesh host this decider holds when the marker is decided — not
 *   the listing taken when the re-read began. A registry key is dropped by a re-read only if nothing observed it at
 *   any time since the re-read began (not the re-read's own reads, not a watch): services registered while the
 *   re-read runs are observed by their watch, stay in the state, and are in the marker.
 * - Several registry keys that map to one mesh host are merged (their endpoints' union), never hidden: removing one
 *   removes only its endpoints.
 */

export interface DeciderConfig {
  emptyProtection: EmptyPolicy;
  /** Whether the registry's order token is stamped on events (ZooKeeper zxids: yes; Consul's resettable index: no). */
  emitOrderToken: boolean;
}

/** What a registry adapter saw. `key` is the registry's own name for a service (Dubbo interface, Consul service). */
export type Observation =
  | { type: 'present'; key: string; state: ServiceState; order: number | null }
  | { type: 'absent'; key: string }
  /**
   * The registry says the key has not changed since the read whose state the decider holds (`holdsReadAt` was true
   * in the same tick): a re-read counts it as observed without reading it again.
   */
  | { type: 'unchanged'; key: string }
  | { type: 'resync-started' }
  | { type: 'resync-finished' }
  /** The registry's order tokens restarted (a Consul agent reset): forget the ones kept per key. */
  | { type: 'order-reset' }
  /** Kafka did not take these hosts' last events: publish them again on the next observation. */
  | { type: 'unconfirmed'; hosts: string[] };

export interface KeyRecord {
  /** Mesh key (namespace/host) the registry key maps to. */
  host: string;
  state: ServiceState;
  order: number | null;
  /** Number of the re-read during which the key was last observed (0: before any). */
  pass: number;
}

export interface HostRecord {
  namespace: string;
  host: string;
  /** Content hash of what was last published; undefined when it must be published again. */
  hash: string | undefined;
  instances: number;
  token: number | null;
}

export interface DeciderState {
  keys: Map<string, KeyRecord>;
  /** mesh key -> registry keys mapping to it (an index over `keys`). */
  hostKeys: Map<string, Set<string>>;
  /** What was published per mesh host. */
  hosts: Map<string, HostRecord>;
  pass: number;
  /** subject -> problem id -> problem, for every current problem. */
  problems: Map<string, Map<string, Problem>>;
}

/** A ServiceState ready to become a SERVICE_STATE event. */
export interface StateToPublish {
  state: ServiceState;
  token: number | null;
  hash: string;
}

export type CollectorEvent =
  | { type: 'key-recorded'; key: string; record: KeyRecord }
  | { type: 'key-forgotten'; key: string }
  | { type: 'order-forgotten' }
  | { type: 'host-published'; hostKey: string; publish: StateToPublish }
  /** `byMarker`: the re-read's marker removes it (the host is not in its list), so no event of its own is written. */
  | {
      type: 'host-removed';
      hostKey: string;
      namespace: string;
      host: string;
      registryService: string;
      token: number | null;
      byMarker?: boolean;
    }
  | { type: 'host-unconfirmed'; hostKey: string }
  | { type: 'empty-held'; hostKey: string; registryService: string; previous: number }
  | { type: 'resync-started'; pass: number }
  | { type: 'resync-ended'; pass: number; hosts: string[]; dropped: string[] }
  | { type: 'problem-raised'; problem: Problem }
  | { type: 'problem-cleared'; problem: Problem };

/** Events that go to Kafka; the rest only change the decider's state or are reported. */
export const isPublished = (
  e: CollectorEvent,
): e is Extract<CollectorEvent, { type: 'host-published' | 'host-removed' | 'resync-ended' }> =>
  e.type === 'host-published' || (e.type === 'host-removed' && !e.byMarker) || e.type === 'resync-ended';

export const initialDeciderState = (): DeciderState => ({
  keys: new Map(),
  hostKeys: new Map(),
  hosts: new Map(),
  pass: 0,
  problems: new Map(),
});

export const meshKey = (s: Pick<ServiceState, 'namespace' | 'host'>) => `${s.namespace}/${s.host}`;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function decide(state: DeciderState, obs: Observation, cfg: DeciderConfig): CollectorEvent[] {
  switch (obs.type) {
    case 'present':
      return decidePresent(state, obs, cfg);
    case 'absent':
      return decideAbsent(state, [obs.key], cfg);
    case 'unchanged':
      return decideUnchanged(state, obs.key, cfg);
    case 'resync-started':
      return [{ type: 'resync-started', pass: state.pass + 1 }];
    case 'resync-finished':
      return decideResyncEnd(state, cfg);
    case 'order-reset':
      return [{ type: 'order-forgotten' }];
    case 'unconfirmed':
      return obs.hosts.filter((h) => state.hosts.has(h)).map((hostKey) => ({ type: 'host-unconfirmed', hostKey }));
  }
}

/** In place, like the projector's evolve: the state of a 10,000-service registry is not copied per observation. */
export function evolve(state: DeciderState, e: CollectorEvent): void {
  switch (e.type) {
    case 'key-recorded': {
      const prev = state.keys.get(e.key);
      if (prev && prev.host !== e.record.host) unindex(state, prev.host, e.key);
      state.keys.set(e.key, e.record);
      const set = state.hostKeys.get(e.record.host) ?? new Set<string>();
      set.add(e.key);
      state.hostKeys.set(e.record.host, set);
      return;
    }
    case 'key-forgotten': {
      const prev = state.keys.get(e.key);
      if (prev) unindex(state, prev.host, e.key);
      state.keys.delete(e.key);
      return;
    }
    case 'order-forgotten':
      for (const r of state.keys.values()) r.order = null;
      return;
    case 'host-published': {
      const s = e.publish.state;
      state.hosts.set(e.hostKey, {
        namespace: s.namespace,
        host: s.host,
        hash: e.publish.hash,
        instances: s.instances.length,
        token: e.publish.token,
      });
      return;
    }
    case 'host-removed':
      state.hosts.delete(e.hostKey);
      return;
    case 'host-unconfirmed': {
      const h = state.hosts.get(e.hostKey);
      if (h) h.hash = undefined;
      return;
    }
    case 'empty-held':
      return;
    case 'resync-started':
      state.pass = e.pass;
      return;
    case 'resync-ended':
      return;
    case 'problem-raised': {
      const m = state.problems.get(e.problem.subject) ?? new Map<string, Problem>();
      m.set(problemId(e.problem), e.problem);
      state.problems.set(e.problem.subject, m);
      return;
    }
    case 'problem-cleared': {
      const m = state.problems.get(e.problem.subject);
      m?.delete(problemId(e.problem));
      if (m?.size === 0) state.problems.delete(e.problem.subject);
      return;
    }
  }
}

/** decide, then evolve with every decided event; returns the events (what the caller publishes and reports). */
export function handle(state: DeciderState, obs: Observation, cfg: DeciderConfig): CollectorEvent[] {
  const events = decide(state, obs, cfg);
  for (const e of events) evolve(state, e);
  return events;
}

function unindex(state: DeciderState, host: string, key: string): void {
  const set = state.hostKeys.get(host);
  set?.delete(key);
  if (set?.size === 0) state.hostKeys.delete(host);
}

function decidePresent(
  state: DeciderState,
  obs: Extract<Observation, { type: 'present' }>,
  cfg: DeciderConfig,
): CollectorEvent[] {
  const prev = state.keys.get(obs.key);
  // An older read of the key finishing after a newer one (overlapping reads): it still counts as observed now.
  if (prev && obs.order !== null && prev.order !== null && obs.order < prev.order) {
    return prev.pass === state.pass
      ? []
      : [{ type: 'key-recorded', key: obs.key, record: { ...prev, pass: state.pass } }];
  }
  const host = meshKey(obs.state);
  const record: KeyRecord = { host, state: obs.state, order: obs.order ?? prev?.order ?? null, pass: state.pass };
  const events: CollectorEvent[] = [{ type: 'key-recorded', key: obs.key, record }];
  events.push(...problemChanges(state, `service ${obs.key}`, obs.state.issues));
  const changed = new Map([[obs.key, record]]);
  const affected = prev && prev.host !== host ? [prev.host, host] : [host];
  for (const h of affected) events.push(...decideHost(state, h, hostMembers(state, h, changed), cfg));
  return events;
}

/**
 * Whether the decider holds the key's state as read at registry version `order` (a ZooKeeper providers node's
 * pzxid, which moves with every child created or deleted): then the registry holds exactly what that read saw.
 */
export function holdsReadAt(state: DeciderState, key: string, order: number): boolean {
  return state.keys.get(key)?.order === order;
}

/**
 * A key unchanged since its held read: observed in this pass, and decided as if read again with the same result.
 * Only the common case skips the decision — the host's last publish confirmed by Kafka and the key with instances
 * (an empty one may be what an empty-protection hold is about). Anything else (a publish Kafka did not take, a hold)
 * is decided from the held state, exactly as a fresh read returning it would be.
 */
function decideUnchanged(state: DeciderState, key: string, cfg: DeciderConfig): CollectorEvent[] {
  const prev = state.keys.get(key);
  if (!prev) return [];
  if (state.hosts.get(prev.host)?.hash !== undefined && prev.state.instances.length > 0) {
    return prev.pass === state.pass ? [] : [{ type: 'key-recorded', key, record: { ...prev, pass: state.pass } }];
  }
  return decidePresent(state, { type: 'present', key, state: prev.state, order: prev.order }, cfg);
}

function decideAbsent(state: DeciderState, gone: Iterable<string>, cfg: DeciderConfig): CollectorEvent[] {
  const events: CollectorEvent[] = [];
  const changed = new Map<string, KeyRecord | undefined>();
  const affected = new Set<string>();
  for (const key of gone) {
    const prev = state.keys.get(key);
    if (!prev) continue;
    changed.set(key, undefined);
    affected.add(prev.host);
    events.push({ type: 'key-forgotten', key });
    events.push(...problemChanges(state, `service ${key}`, []));
  }
  for (const h of [...affected].sort(cmp)) events.push(...decideHost(state, h, hostMembers(state, h, changed), cfg));
  return events;
}

/**
 * The end of a full re-read. Keys not observed at any time since it began are gone from the registry (their
 * deletion was missed: a collector was down, a watch was lost) and are dropped; the marker then lists every host the
 * decider still holds, so the projector removes exactly this source's hosts that no longer exist.
 */
function decideResyncEnd(state: DeciderState, cfg: DeciderConfig): CollectorEvent[] {
  const stale = new Set([...state.keys.entries()].filter(([, r]) => r.pass < state.pass).map(([k]) => k));
  const events = decideAbsent(state, [...stale].sort(cmp), cfg).map((e) =>
    e.type === 'host-removed' ? { ...e, byMarker: true } : e,
  );
  const hosts = [...state.hostKeys.entries()]
    .filter(([, members]) => [...members].some((k) => !stale.has(k)))
    .map(([h]) => h)
    .sort(cmp);
  events.push({ type: 'resync-ended', pass: state.pass, hosts, dropped: [...stale].sort(cmp) });
  return events;
}

/**
 * Registry keys mapping to `host` once `changed` (this decision's new records; undefined = key gone) applies, in
 * name order. Reads only the host's index entry and the changed keys: no copy of a 10,000-key state per observation.
 */
function hostMembers(
  state: DeciderState,
  host: string,
  changed: Map<string, KeyRecord | undefined>,
): { key: string; record: KeyRecord }[] {
  const candidates = new Set(state.hostKeys.get(host) ?? []);
  for (const k of changed.keys()) candidates.add(k);
  const members: { key: string; record: KeyRecord }[] = [];
  for (const key of candidates) {
    const record = changed.has(key) ? changed.get(key) : state.keys.get(key);
    if (record?.host === host) members.push({ key, record });
  }
  return members.sort((a, b) => cmp(a.key, b.key));
}

/** What to publish for one mesh host, given the registry keys that now map to it. */
function decideHost(
  state: DeciderState,
  hostKey: string,
  members: { key: string; record: KeyRecord }[],
  cfg: DeciderConfig,
): CollectorEvent[] {
  const published = state.hosts.get(hostKey);
  const events: CollectorEvent[] = [];
  const { state: merged, hostIssues } =
    members.length > 0
      ? mergeHostStates(members.map((m) => ({ key: m.key, state: m.record.state })))
      : { state: undefined, hostIssues: [] };
  events.push(...problemChanges(state, `host ${hostKey}`, hostIssues));
  if (!merged) {
    if (!published) return events;
    const was = [...(state.hostKeys.get(hostKey) ?? [])].sort(cmp).join(',');
    events.push({
      type: 'host-removed',
      hostKey,
      namespace: published.namespace,
      host: published.host,
      registryService: was,
      token: null,
    });
    return events;
  }
  if (emptyProtectionDecision(cfg.emptyProtection, published?.instances, merged.instances.length) === 'hold') {
    events.push({
      type: 'empty-held',
      hostKey,
      registryService: merged.registryService,
      previous: published!.instances,
    });
    return events;
  }
  const hash = contentHash(merged);
  if (published?.hash === hash) return events;
  events.push({
    type: 'host-published',
    hostKey,
    publish: { state: merged, token: hostToken(members, published, cfg), hash },
  });
  return events;
}

/** The host's order token: the newest of its keys', never below what this decider already published for it. */
function hostToken(
  members: { record: KeyRecord }[],
  published: HostRecord | undefined,
  cfg: DeciderConfig,
): number | null {
  if (!cfg.emitOrderToken) return null;
  let t: number | null = published?.token ?? null;
  for (const m of members) if (m.record.order !== null && (t === null || m.record.order > t)) t = m.record.order;
  return t;
}

function contentHash(s: ServiceState): string {
  return crypto
    .createHash('sha256')
    .update(JSON.stringify([s.ports, s.instances, s.registryService]))
    .digest('hex');
}

/** Problems of a subject that appeared or went away, given its current issues: reported once, not per re-read. */
function problemChanges(state: DeciderState, subject: string, issues: DataIssue[]): CollectorEvent[] {
  const before = state.problems.get(subject) ?? new Map<string, Problem>();
  const now = new Map(
    issues.map((i) => {
      const p = toProblem(subject, i);
      return [problemId(p), p] as const;
    }),
  );
  const events: CollectorEvent[] = [];
  for (const [id, p] of now) if (!before.has(id)) events.push({ type: 'problem-raised', problem: p });
  for (const [id, p] of before) if (!now.has(id)) events.push({ type: 'problem-cleared', problem: p });
  return events;
}
