import type { Endpoint, ServiceChange } from './instance-diff.ts';
import { endpointId, resourceName } from './instance-diff.ts';
import type { HistoryRecord } from './history.ts';
import type { VerifyOutcome } from './verify.ts';
import type { HostDifference, RegistryVerifyOutcome } from './registry-verify.ts';

/** Human-readable renderings of the audit results (the --json output carries the same data structured). */

function labels(e: Endpoint): string {
  const l = Object.entries(e.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const extra = [e.weight !== undefined ? `weight=${e.weight}` : '', e.locality ? `locality=${e.locality}` : '']
    .filter(Boolean)
    .join(' ');
  return [l ? `{${l}}` : '', extra].filter(Boolean).join(' ');
}

const show = (v: string | undefined) => (v === undefined ? '(none)' : v);

/** The instance-level lines of one ServiceEntry change, indented. */
export function changeLines(c: ServiceChange, indent = '    '): string[] {
  const out: string[] = [];
  if (c.kind === 'created') out.push(`${indent}ServiceEntry created`);
  if (c.kind === 'removed') out.push(`${indent}ServiceEntry removed`);
  if (c.kind !== 'created' && c.kind !== 'removed') {
    for (const [k, [a, b]] of Object.entries(c.service)) out.push(`${indent}~ ${k}: ${show(a)} -> ${show(b)}`);
  }
  for (const e of c.added) out.push(`${indent}+ endpoint ${endpointId(e)} ${labels(e)}`.trimEnd());
  for (const e of c.removed) out.push(`${indent}- endpoint ${endpointId(e)} ${labels(e)}`.trimEnd());
  for (const ch of c.changed) {
    out.push(
      `${indent}~ endpoint ${ch.endpoint}: ${Object.entries(ch.changes)
        .map(([k, [a, b]]) => `${k} ${show(a)} -> ${show(b)}`)
        .join('; ')}`,
    );
  }
  if (c.kind === 'changed')
    for (const [k, [a, b]] of Object.entries(c.metadata))
      out.push(`${indent}~ metadata.${k}: ${show(a)} -> ${show(b)}`);
  return out;
}

export function formatHistory(arg: string, keys: string[], records: HistoryRecord[]): string {
  if (records.length === 0) return `no event in the topic concerns "${arg}"\n`;
  const ignored = records.filter((r) => r.outcome === 'ignored').length;
  const lines = [`history of ${keys.join(', ') || arg}: ${records.length} events (${ignored} ignored)`, ''];
  for (const r of records) {
    const token = r.orderToken === null ? 'token -' : `token ${r.orderToken} (0x${r.orderToken.toString(16)})`;
    const who = `${r.sourceId} (${r.sourceKind}) collector ${r.collectorId}${r.collectorVersion ? ` v${r.collectorVersion}` : ''} epoch ${r.epoch}`;
    lines.push(`${r.time}  p${r.partition}@${r.offset}  ${r.kind}  ${who}  ${token}  schema ${r.schema}`);
    if (r.kind !== 'RESYNC_END')
      lines.push(
        `    ${r.service} (registry ${r.registryService}): ${r.instances} instance${r.instances === 1 ? '' : 's'} observed at ${r.observedAt}`,
      );
    if (r.outcome === 'ignored') {
      lines.push(`    IGNORED (${r.reason}): ${r.detail}`);
      for (const p of r.problems ?? []) lines.push(`      - ${p}`);
    } else if (r.outcome === 'unchanged') {
      lines.push('    applied, no change to the ServiceEntry (same state as before)');
    } else {
      if (r.detail) lines.push(`    ${r.detail}`);
      if (r.changes) {
        for (const c of r.changes)
          lines.push(`    ${c.kind} ${resourceName(c.resource)}:`, ...changeLines(c, '      '));
      } else if (r.change) lines.push(...changeLines(r.change));
    }
    for (const p of r.rejected ?? [])
      lines.push(`    NOT PUBLISHED: merged ServiceEntry rejected by istiod's rules: ${p}`);
    for (const i of r.dataIssues)
      lines.push(`    registry data issue: ${i.field} "${i.value}": ${i.reason} (${i.action})`);
    lines.push('');
  }
  return lines.join('\n');
}

export function formatDiff(from: string, to: string, changes: ServiceChange[]): string {
  if (changes.length === 0) return `no ServiceEntry changed between ${from} and ${to}\n`;
  const count = (k: ServiceChange['kind']) => changes.filter((c) => c.kind === k).length;
  const lines = [
    `${changes.length} ServiceEntries differ between ${from} and ${to}: ${count('created')} created, ${count('removed')} removed, ${count('changed')} changed`,
    '',
  ];
  for (const c of changes) {
    const sign = c.kind === 'created' ? '+' : c.kind === 'removed' ? '-' : '~';
    lines.push(`${sign} ${resourceName(c.resource)}`);
    if (c.kind === 'created') {
      for (const e of c.added) lines.push(`    + endpoint ${endpointId(e)} ${labels(e)}`.trimEnd());
    } else if (c.kind === 'removed') {
      for (const e of c.removed) lines.push(`    - endpoint ${endpointId(e)} ${labels(e)}`.trimEnd());
    } else {
      lines.push(...changeLines(c));
    }
  }
  return lines.join('\n') + '\n';
}

export function formatVerify(o: VerifyOutcome, context: string[]): string {
  const lines = [...context];
  if (o.equal) {
    lines.push(`OK: the live snapshot equals the replay byte for byte (${o.compared} resources)`);
    return lines.join('\n') + '\n';
  }
  const f = o.first!;
  lines.push(
    `MISMATCH: ${o.differences} of ${o.compared} resources differ; first difference: ${resourceName(f.resource)}`,
  );
  if (f.what === 'missing-in-redis') lines.push('    the replay has this ServiceEntry; Redis does not');
  if (f.what === 'extra-in-redis') lines.push('    Redis has this ServiceEntry; the replay of the topic does not');
  if (f.what === 'bytes-differ')
    lines.push(`    bytes differ from byte ${f.byteOffset} (live ${f.liveBytes} bytes, replay ${f.replayBytes} bytes)`);
  if (f.decodeError) lines.push(`    ${f.decodeError}`);
  if (f.change) {
    const detail = changeLines(f.change, '    replay -> live: ');
    lines.push(...(detail.length > 0 ? detail : ['    the decoded objects are equal: only the encoding differs']));
  }
  if (o.differing.length > 1) {
    const rest = o.differing.slice(1, 11).map(resourceName);
    lines.push(
      `    also differ: ${rest.join(', ')}${o.differing.length > 11 ? `, … (${o.differing.length - 11} more; --json lists all)` : ''}`,
    );
  }
  return lines.join('\n') + '\n';
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
/** Hosts listed in full in the text output of verify --registry (--json lists all). */
const REGISTRY_TEXT_HOSTS = 50;

function registryDifferenceLines(d: HostDifference): string[] {
  const who = `${d.host} (source ${d.source}${d.registryService ? `, registry service ${d.registryService}` : ''})`;
  const out: string[] = [];
  const ep = (sign: string, e: Endpoint, why: string) =>
    `      ${sign} endpoint ${endpointId(e)} ${labels(e)}`.trimEnd() + `  (${why})`;
  if (d.what === 'missing-in-mesh') {
    out.push(`  - ${who}: MISSING in the mesh: registered, but no live ServiceEntry carries it from this source`);
    for (const e of d.missingEndpoints) out.push(ep('-', e, 'registered'));
    for (const e of d.extraEndpoints) out.push(ep('+', e, 'in the mesh, labelled with this source'));
  } else if (d.what === 'extra-in-mesh') {
    out.push(`  + ${who}: EXTRA in the mesh: the registry does not have it`);
    for (const e of d.extraEndpoints) out.push(ep('+', e, 'in the mesh'));
  } else {
    out.push(`  ~ ${who}: differs`);
    if (d.ports)
      out.push(`      ~ ports: registry [${d.ports.registry.join(', ')}], mesh [${d.ports.mesh.join(', ')}]`);
    for (const e of d.missingEndpoints) out.push(ep('-', e, 'registered, not in the mesh'));
    for (const e of d.extraEndpoints) out.push(ep('+', e, 'in the mesh, not registered'));
    for (const c of d.changedEndpoints) {
      out.push(
        `      ~ endpoint ${c.endpoint}: ${Object.entries(c.changes)
          .map(([k, [a, b]]) => `${k} ${show(a)} -> ${show(b)}`)
          .join('; ')}  (registry -> mesh)`,
      );
    }
  }
  if (d.fold === 'missing')
    out.push("      the projector's stored state has no contribution of this source for the host");
  if (d.fold === 'extra')
    out.push("      the projector's stored state still has a contribution of this source for the host");
  if (d.fold === 'differs')
    out.push(
      "      the projector's stored state for this source differs from the registry (the next change of the host is built from it)",
    );
  for (const n of d.notes) out.push(`      ${n}`);
  return out;
}

export function formatRegistryVerify(o: RegistryVerifyOutcome, context: string[], seconds: number): string {
  const lines = [...context];
  const rounds = `${plural(o.rounds, 'round')}${o.rounds > 1 ? ` ${o.settleMs / 1000} s apart` : ''}, ${seconds.toFixed(1)} s`;
  for (const h of o.last.held)
    lines.push(
      `held: ${h.host} (source ${h.source}) has no instances in the registry; the mesh keeps its ${plural(h.meshEndpoints, 'endpoint')} (emptyProtection: keep-last)`,
    );
  if (o.settled.length > 0) {
    lines.push(
      `settled: ${plural(o.settled.length, 'mesh host')} differed in a round but not in every round (changes in flight): ${o.settled.slice(0, 10).join(', ')}${o.settled.length > 10 ? ', …' : ''}`,
    );
  }
  if (o.equal) {
    const hosts = o.last.sources.reduce((n, s) => n + s.registryHosts, 0);
    const endpoints = o.last.sources.reduce((n, s) => n + s.registryEndpoints, 0);
    lines.push(
      `OK: the mesh holds what the registries hold (${plural(o.last.sources.length, 'source')}, ${plural(hosts, 'mesh host')}, ${plural(endpoints, 'endpoint')}; ${rounds})`,
    );
    return lines.join('\n') + '\n';
  }
  const count = (w: HostDifference['what']) => o.differences.filter((d) => d.what === w).length;
  lines.push(
    `MISMATCH: ${plural(o.differences.length, 'mesh host')} ${o.differences.length === 1 ? 'differs' : 'differ'} from the registry in every round (${rounds}): ${count('missing-in-mesh')} missing in the mesh, ${count('extra-in-mesh')} extra in the mesh, ${count('differs')} with different endpoints or state`,
  );
  for (const d of o.differences.slice(0, REGISTRY_TEXT_HOSTS)) lines.push(...registryDifferenceLines(d));
  if (o.differences.length > REGISTRY_TEXT_HOSTS)
    lines.push(`  … ${o.differences.length - REGISTRY_TEXT_HOSTS} more (--json lists all)`);
  return lines.join('\n') + '\n';
}
