import net from 'node:net';
import { isDnsName, isLabelKey, isLabelValue, isPortName, istioProtocol } from '../istio-rules.ts';

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
  endpoints: {
    address: string;
    /** Absent (or without a port) where the endpoint serves it on the service port's number (endpoint-ports.ts). */
    ports?: Record<string, number>;
    labels: Record<string, string>;
    weight?: number;
    locality?: string;
  }[];
}

export function validateServiceEntry(se: ServiceEntryBody): string[] {
  const problems: string[] = [];
  if (se.hosts.length === 0) problems.push('hosts: empty');
  for (const h of se.hosts) if (!isDnsName(h)) problems.push(`hosts: "${h}" is not a DNS name`);
  if (se.ports.length === 0) problems.push('ports: none (a service needs at least one port)');
  const numbers = new Set<number>();
  const names = new Set<string>();
  for (const p of se.ports) {
    if (!Number.isInteger(p.number) || p.number < 1 || p.number > 65535)
      problems.push(`ports: ${p.number} outside 1..65535`);
    if (numbers.has(p.number)) problems.push(`ports: duplicate number ${p.number}`);
    numbers.add(p.number);
    if (!isPortName(p.name)) problems.push(`ports: name "${p.name}" is not a DNS-1123 label`);
    if (names.has(p.name)) problems.push(`ports: duplicate name "${p.name}"`);
    names.add(p.name);
    if (p.protocol !== '' && !istioProtocol(p.protocol))
      problems.push(`ports: protocol "${p.protocol}" is not one istiod accepts`);
  }
  if (se.resolution === 0 && se.endpoints.length > 0) problems.push('resolution NONE with endpoints');
  if (se.resolution === 3 && se.endpoints.length > 1) problems.push('DNS_ROUND_ROBIN with more than one endpoint');
  for (const [i, ep] of se.endpoints.entries()) {
    if (se.resolution === 1 && net.isIP(ep.address) === 0 && !ep.address.startsWith('unix://')) {
      problems.push(`endpoints[${i}]: address "${ep.address}" is not an IP`);
    }
    for (const name in ep.ports)
      if (!names.has(name)) problems.push(`endpoints[${i}]: port "${name}" is not a port of the service`);
    for (const k in ep.labels) {
      const v = ep.labels[k]!;
      if (!isLabelKey(k)) problems.push(`endpoints[${i}]: label key "${k}" invalid`);
      if (!isLabelValue(v)) problems.push(`endpoints[${i}]: label value "${v}" of "${k}" invalid`);
    }
  }
  return problems;
}
