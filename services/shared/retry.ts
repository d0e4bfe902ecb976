import { MeshbridgeError } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * How every role waits for a dependency (Redis, Kafka) that is not there: one bounded, jittered exponential backoff,
 * defined once, as data. A role never exits because a dependency is missing; it starts its ops server first
 * (/healthz live, /readyz 503 naming what is missing), retries with this policy, and resumes when the dependency
 * returns. docs/operations.md describes the behaviour operators see.
 */
export interface BackoffPolicy {
  /** Delay before the second attempt. */
  initialMs: number;
  /** Growth per attempt. */
  factor: number;
  /** Upper bound of any delay: a returning dependency is noticed within this (plus one attempt). */
  maxMs: number;
  /** ± fraction of the delay drawn at random, so replicas do not retry in lock-step. */
  jitter: number;
}

/** Every retry delay of meshbridge, as data, in one place. */
export const RETRY = Object.freeze({
  /** A dependency (Redis, Kafka) that is not there, at start or in an outage. */
  dependency: { initialMs: 200, factor: 2, maxMs: 5_000, jitter: 0.2 },
  /** A registry request that failed (a Consul blocking query): soon at first, then no more than every 5 s. */
  registryRequest: { initialMs: 200, factor: 2.5, maxMs: 5_000, jitter: 0 },
  /** Opening a new registry session after one expired (ZooKeeper). */
  registrySession: { initialMs: 1_000, factor: 1, maxMs: 1_000, jitter: 0 },
  /** Offering a service's latest observation to Kafka again once the producer's own retries ran out. */
  republish: { initialMs: 1_000, factor: 1, maxMs: 1_000, jitter: 0 },
  /** Following the snapshot's change stream in Redis after a failed read. */
  snapshotFollow: { initialMs: 500, factor: 1, maxMs: 500, jitter: 0 },
} satisfies Record<string, BackoffPolicy>);

export const DEPENDENCY_BACKOFF: BackoffPolicy = RETRY.dependency;

/** Waits the policy's delay after failed attempt number `attempt` (1-based). */
export const backoff = (policy: BackoffPolicy, attempt: number): Promise<void> =>
  new Promise((r) => setTimeout(r, backoffDelay(policy, attempt)));

/**
 * Whether retrying can help: the taxonomy's `retriable` (services/shared/errors.ts) decides for meshbridge's own
 * errors; anything else (a client library's error, a refused connection) is treated as transient.
 */
export const isRetriable = (e: unknown): boolean => !(e instanceof MeshbridgeError) || e.retriable;

/** Delay after failed attempt number `attempt` (1-based); `random` in [0, 1). Pure. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number = Math.random()): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  const jittered = base * (1 + policy.jitter * (2 * random - 1));
  return Math.round(Math.min(policy.maxMs, Math.max(0, jittered)));
}

/** host:port of a redis:// or rediss:// URL, never its credentials. */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol === 'rediss:' ? 'rediss://' : ''}${u.hostname}:${u.port || '6379'}`;
  } catch {
    return '(unparsable redis url)';
  }
}

export interface DependencyState {
  name: string;
  address: string;
  ok: boolean;
  /** ISO time since when the dependency is in its current state (down: since the first failure of this outage). */
  since: string;
  /** Failed attempts in the current outage. */
  attempts: number;
  lastError?: string;
}

/**
 * Outage bookkeeping for one dependency, pure apart from the clock passed in: what /readyz shows, and at what level
 * to log. Rule: the first failure of an outage is a warn (naming the dependency and its address), every further one
 * debug; the recovery is one info line saying how long it lasted. A transient, retried condition is never an error.
 * Several clients of one dependency (the gateway's two Redis connections) report as members: the outage ends when
 * every member that failed has succeeded again, so a member still retrying after another got through (or failing
 * once more on a socket of the outage) stays inside the same outage instead of opening a second one.
 */
export class DependencyTracker {
  private okState = false;
  private readonly membersDown = new Set<unknown>();
  private sinceMs: number;
  private failures = 0;
  private lastError: string | undefined;
  private everUp = false;

  constructor(
    readonly name: string,
    readonly address: string,
    now = Date.now(),
  ) {
    this.sinceMs = now;
  }

  get ok(): boolean {
    return this.okState;
  }

  /** Records a failure of `member` (the tracker's only client when omitted); returns the log level it deserves. */
  failed(err: string, now = Date.now(), member: unknown = this): 'warn' | 'debug' {
    this.membersDown.add(member);
    this.lastError = err;
    if (this.okState) {
      this.okState = false;
      this.sinceMs = now;
      this.failures = 0;
    }
    this.failures++;
    return this.failures === 1 ? 'warn' : 'debug';
  }

  /**
   * Records a success of `member`; returns the outage it ended (ms, attempts), or undefined when the dependency was
   * already up or another member is still down.
   */
  succeeded(
    now = Date.now(),
    member: unknown = this,
  ): { downMs: number; attempts: number; first: boolean } | undefined {
    this.membersDown.delete(member);
    if (this.okState || this.membersDown.size > 0) return undefined;
    const out = { downMs: now - this.sinceMs, attempts: this.failures, first: !this.everUp };
    this.okState = true;
    this.everUp = true;
    this.sinceMs = now;
    this.failures = 0;
    this.lastError = undefined;
    return out;
  }

  state(): DependencyState {
    return {
      name: this.name,
      address: this.address,
      ok: this.okState,
      since: new Date(this.sinceMs).toISOString(),
      attempts: this.failures,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }
}

/** A tracker that logs its transitions. */
export class Dependency extends DependencyTracker {
  constructor(
    name: string,
    address: string,
    private readonly log: Logger,
  ) {
    super(name, address);
  }

  /** `member`: which client of the dependency failed (see DependencyTracker); `retryInMs`: when it tries again. */
  down(err: unknown, { retryInMs, member }: { retryInMs?: number; member?: unknown } = {}): void {
    const message = errorText(err);
    const level = this.failed(message, Date.now(), member);
    const s = this.state();
    this.log[level](
      { dependency: this.name, address: this.address, err: message, since: s.since, attempt: s.attempts, retryInMs },
      level === 'warn'
        ? `${this.name} at ${this.address} unreachable; retrying (further failures of this outage are logged at debug)`
        : `${this.name} still unreachable; retrying`,
    );
  }

  up(member?: unknown): void {
    const r = this.succeeded(Date.now(), member);
    if (!r) return;
    if (r.first && r.attempts === 0)
      this.log.info({ dependency: this.name, address: this.address }, `${this.name} connected`);
    else
      this.log.info(
        { dependency: this.name, address: this.address, downMs: r.downMs, attempts: r.attempts },
        `${this.name} at ${this.address} reachable again`,
      );
  }
}

/** Readiness over a role's dependencies: not ready while any is down; the detail names each missing one, its address and since when. */
export function dependencyReadiness(deps: DependencyTracker[]): {
  ok: boolean;
  missing: DependencyState[];
  dependencies: Record<string, DependencyState>;
} {
  const states = deps.map((d) => d.state());
  return {
    ok: states.every((s) => s.ok),
    missing: states.filter((s) => !s.ok),
    dependencies: Object.fromEntries(states.map((s) => [s.name, s])),
  };
}

/**
 * Runs `attempt` until it succeeds, waiting DEPENDENCY_BACKOFF between failures and recording them on `dep`.
 * Rejects when `stopped()` turns true (shutdown) or on an error that is not retriable (isRetriable) — never because
 * the dependency stays away.
 */
export async function retryUntil<T>(
  dep: Dependency,
  attempt: () => Promise<T>,
  opts: { stopped?: () => boolean; policy?: BackoffPolicy; member?: unknown } = {},
): Promise<T> {
  const policy = opts.policy ?? DEPENDENCY_BACKOFF;
  for (let n = 1; ; n++) {
    if (opts.stopped?.()) throw new Error(`stopped while waiting for ${dep.name}`);
    try {
      const v = await attempt();
      dep.up(opts.member);
      return v;
    } catch (e) {
      if (opts.stopped?.() || !isRetriable(e)) throw e;
      const delay = backoffDelay(policy, n);
      dep.down(e, { retryInMs: delay, member: opts.member });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && !err.message.includes(cause.message)
      ? `${err.message}: ${cause.message}`
      : err.message;
  }
  return String(err);
}
