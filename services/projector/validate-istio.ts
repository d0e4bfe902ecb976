import net from 'node:net';

/**
 * The parts of istiod's ServiceEntry validation that registry data can violate (docs/protocol.md, "What istiod's
 * validation rejects"). istiod never NACKs: an object that fails there is silently dropped, so we check first.
 * Returns the problems as data; empty means valid.
 */
export interface ServiceEntryBody {
  hosts: string[];
  ports: { number: number; protocol: string; name: string }[];
  location: number;
  resolution: number;
  endpoints: { address: string; ports: Record<string, number>; labels: Record<string, string>; weight?: number; locality?: string }[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PROTOCOLS = new Set(['http', 'http2', 'https', 'grpc', 'grpc-web', 'tcp', 'tls', 'udp', 'mongo', 'redis', 'mysql', '']);
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Validation runs for every event on the projector's hot path, over strings that repeat endlessly (label keys and
 * values, hosts). A bounded memo of each check's verdict keeps the regexes off that path.
 */
function memo(check: (s: string) => boolean, max = 50_000): (s: string) => boolean {
  const seen = new Map<string, boolean>();
  return (s) => {
    let v = seen.get(s);
    if (v === undefined) {
      v = check(s);
      if (seen.size >= max) seen.clear();
      seen.set(s, v);
    }
    return v;
  };
}

export const isDnsName = memo((host: string): boolean => {
  if (host.length === 0 || host.length > 253 || host === '*') return false;
  return host.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l));
});
const isPortName = memo((n) => DNS_LABEL.test(n) && n.length <= 63);
const isLabelKey = memo((k) => {
  const n = k.slice(k.lastIndexOf('/') + 1);
  return LABEL_NAME.test(n) && n.length <= 63;
});
const isLabelValue = memo((v) => LABEL_VALUE.test(v) && v.length <= 63);

export function validateServiceEntry(se: ServiceEntryBody): string[] {
  const problems: string[] = [];
  if (se.hosts.length === 0) problems.push('hosts: empty');
  for (const h of se.hosts) if (!isDnsName(h)) problems.push(`hosts: "${h}" is not a DNS name`);
  if (se.ports.length === 0) problems.push('ports: none (a service needs at least one port)');
  const numbers = new Set<number>();
  const names = new Set<string>();
  for (const p of se.ports) {
    if (!Number.isInteger(p.number) || p.number < 1 || p.number > 65535) problems.push(`ports: ${p.number} outside 1..65535`);
    if (numbers.has(p.number)) problems.push(`ports: duplicate number ${p.number}`);
    numbers.add(p.number);
    if (!isPortName(p.name)) problems.push(`ports: name "${p.name}" is not a DNS-1123 label`);
    if (names.has(p.name)) problems.push(`ports: duplicate name "${p.name}"`);
    names.add(p.name);
    if (!PROTOCOLS.has(p.protocol.toLowerCase())) problems.push(`ports: protocol "${p.protocol}" is not one istiod accepts`);
  }
  if (se.resolution === 0 && se.endpoints.length > 0) problems.push('resolution NONE with endpoints');
  if (se.resolution === 3 && se.endpoints.length > 1) problems.push('DNS_ROUND_ROBIN with more than one endpoint');
  for (const [i, ep] of se.endpoints.entries()) {
    if (se.resolution === 1 && net.isIP(ep.address) === 0 && !ep.address.startsWith('unix://')) {
      problems.push(`endpoints[${i}]: address "${ep.address}" is not an IP`);
    }
    for (const name of Object.keys(ep.ports)) if (!names.has(name)) problems.push(`endpoints[${i}]: port "${name}" is not a port of the service`);
    for (const k in ep.labels) {
      const v = ep.labels[k]!;
      if (!isLabelKey(k)) problems.push(`endpoints[${i}]: label key "${k}" invalid`);
      if (!isLabelValue(v)) problems.push(`endpoints[${i}]: label value "${v}" of "${k}" invalid`);
    }
  }
  return problems;
}
