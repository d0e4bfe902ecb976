/**
 * Leader election decisions for one source, free of I/O and clocks (times are passed in), so they are unit-tested.
 *
 * The lease lives in Redis (redis-lease.ts): a key holding "<collectorId>|<epoch>" with a TTL. Taking a free lease
 * allocates a new fencing epoch; renewing keeps it. A replica considers itself leader only until
 * `sentAt + leaseMs - margin`, measured from when it SENT the renewal — so it always steps down before Redis lets the
 * key expire and another replica takes over, even if the answer arrived late. Everything it publishes carries the
 * epoch; the projector ignores epochs older than the newest it has seen for the source.
 */
export interface LeaseAnswer {
  /** True when this replica holds the lease after the call. */
  held: boolean;
  /** The epoch of the lease's holder (ours when held). */
  epoch: number;
  holder: string;
}

export interface Leadership {
  epoch: number;
  validUntil: number;
}

export type Action =
  | { kind: 'none' }
  | { kind: 'start'; epoch: number }
  | { kind: 'restart'; epoch: number; reason: string }
  | { kind: 'stop'; reason: string };

/** Safety margin against clock-rate drift and scheduling delays: 10% of the lease, at least 100 ms. */
export const marginOf = (leaseMs: number): number => Math.max(100, Math.floor(leaseMs / 10));

/** How often the leader renews: a third of the lease, so two renewals may fail. */
export const tickOf = (leaseMs: number): number => Math.max(50, Math.floor(leaseMs / 3));

/**
 * How often a standby tries to take the lease: an eighth of it, so a dead leader's lease is taken within ~lease/8 of
 * expiring instead of up to lease/3 (one cheap Redis call per source per tick).
 */
export const standbyTickOf = (leaseMs: number): number => Math.max(50, Math.floor(leaseMs / 8));

export function decide(
  current: Leadership | undefined,
  answer: LeaseAnswer | Error,
  sentAt: number,
  now: number,
  leaseMs: number,
): { next: Leadership | undefined; action: Action } {
  if (answer instanceof Error) {
    // Redis unreachable: keep leading while the lease we hold is certainly still ours, then step down.
    if (current && now >= current.validUntil)
      return { next: undefined, action: { kind: 'stop', reason: `lease expired (Redis: ${answer.message})` } };
    return { next: current, action: { kind: 'none' } };
  }
  if (!answer.held) {
    return current
      ? { next: undefined, action: { kind: 'stop', reason: `superseded by ${answer.holder} (epoch ${answer.epoch})` } }
      : { next: undefined, action: { kind: 'none' } };
  }
  const next = { epoch: answer.epoch, validUntil: sentAt + leaseMs - marginOf(leaseMs) };
  if (next.validUntil <= now) {
    // The answer came back too late to act on: treat as not leading; the next tick renews (same epoch) or not.
    return current
      ? { next: undefined, action: { kind: 'stop', reason: 'lease renewal answered too late' } }
      : { next: undefined, action: { kind: 'none' } };
  }
  if (!current) return { next, action: { kind: 'start', epoch: answer.epoch } };
  if (current.epoch !== answer.epoch)
    return {
      next,
      action: { kind: 'restart', epoch: answer.epoch, reason: `lease lapsed; new epoch ${answer.epoch}` },
    };
  return { next, action: { kind: 'none' } };
}

/** True while `l` certainly still holds the lease. */
export function isValid(l: Leadership | undefined, now: number): boolean {
  return l !== undefined && now < l.validUntil;
}

/**
 * `l` extended by a renewal the background thread made (lease-renewal-worker.ts) of the same epoch: valid from when
 * that renewal was sent, if that is later than the main thread's own. Any other epoch's renewal changes nothing.
 */
export function withRenewal(
  l: Leadership | undefined,
  r: { epoch: number; sentAt: number } | undefined,
  leaseMs: number,
): Leadership | undefined {
  if (!l || !r || r.epoch !== l.epoch) return l;
  const validUntil = r.sentAt + leaseMs - marginOf(leaseMs);
  return validUntil > l.validUntil ? { epoch: l.epoch, validUntil } : l;
}
