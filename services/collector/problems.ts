import type { DataIssue } from '../../schemas/registry-event.ts';

/**
 * A registry data problem as operators see it: which subject (a registry service, or a mesh host for collisions),
 * what is wrong, and its metric labels. Metric labels come from a fixed vocabulary — never an address, instance,
 * label key or service name — so a registry with a million bad instances still has a handful of series.
 */
export interface Problem {
  /** `service <registry key>` or `host <namespace/host>`. */
  subject: string;
  field: string;
  value: string;
  reason: string;
  action: string;
  /** Field path without identifiers: `providers.port`, `instances.labels`, `registryService`. */
  metricField: string;
  /** One of REASON_CODES. */
  metricReason: ReasonCode;
}

/**
 * Reason text (as normalisers write it) -> bounded code. First match wins (collisions and conflicts first: their texts
 * also mention ports); anything unknown is `other`.
 */
const REASONS = [
  ['host-collision', /map to mesh host/],
  ['port-conflict', /conflicts|two protocols/],
  ['url-syntax', /URL-encoding|not of the form/],
  ['not-ip', /not an IP address/],
  ['loopback', /^loopback address/],
  ['unspecified', /^unspecified address/],
  ['empty-host', /empty host/],
  ['port', /port|outside 1\.\.65535|is not a number/],
  ['label-key', /label key/],
  ['label-value', /label value/],
  ['protocol', /not a protocol/],
  ['not-json', /not JSON/],
  ['malformed', /not an object|not a list|lacks|endpoints/],
] as const;
export type ReasonCode = (typeof REASONS)[number][0] | 'other';
export const REASON_CODES: readonly ReasonCode[] = [...REASONS.map(([c]) => c), 'other'];

/** The metric label of a reason: a fixed vocabulary whatever the registry data. */
export function reasonCode(reason: string): ReasonCode {
  for (const [code, re] of REASONS) if (re.test(reason)) return code;
  return 'other';
}

/**
 * A field path as a metric label: identifiers in brackets dropped (`providers[10.0.0.1:20880].labels.version` ->
 * `providers.labels`), at most two segments, each made of letters only — so the label set is bounded by the code.
 */
export function metricField(field: string): string {
  const segments = field
    .replace(/\[[^\]]*\]/g, '')
    .split('.')
    .slice(0, 2);
  return segments.every((s) => /^[A-Za-z]+$/.test(s)) ? segments.join('.') : 'other';
}

/** Identity of a problem within its subject: the same problem on every re-read is the same problem. */
export const problemId = (p: Pick<Problem, 'field' | 'value' | 'reason'>) =>
  `${p.field}\u0000${p.value}\u0000${p.reason}`;

export function toProblem(subject: string, issue: DataIssue): Problem {
  return { subject, ...issue, metricField: metricField(issue.field), metricReason: reasonCode(issue.reason) };
}
