import net from 'node:net';
import type { DataIssue } from '../../schemas/registry-event.ts';

// IPv6 has many spellings of one address (::1, 0:0:0:0:0:0:0:1, IPv4-mapped ::ffff:127.0.0.1): Node's BlockList
// compares canonical forms. IPv4 needs no such help — net.isIP accepts only plain dotted quads without leading zeros —
// and a string test is ~20x cheaper than a BlockList lookup on the collector's initial load (100,000 providers).
const LOOPBACK_V6 = new net.BlockList();
LOOPBACK_V6.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK_V6.addAddress('::1', 'ipv6');
const UNSPECIFIED_V6 = new net.BlockList();
UNSPECIFIED_V6.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED_V6.addAddress('::', 'ipv6');

/**
 * Why an address cannot be a mesh endpoint, or undefined when it can. A STATIC endpoint needs an IP; an unspecified
 * address (a provider registering what it binds to) names no host at all; a loopback address is the client's own host
 * once a sidecar dials it, so the instance's share of the traffic would go to the caller itself. Loopback is allowed
 * only where the source says so: a single-machine setup (the local stack, the tests) where registry, providers and
 * clients share one host.
 */
export function addressProblem(address: string, allowLoopback: boolean): string | undefined {
  const family = net.isIP(address);
  if (family === 0) return 'not an IP address (istio STATIC endpoints need IPs)';
  if (family === 4 ? address === '0.0.0.0' : UNSPECIFIED_V6.check(address, 'ipv6'))
    return 'unspecified address: the provider registered its bind address, not one it is reachable at; make it register its host IP';
  if (allowLoopback) return undefined;
  if (family === 4 ? address.startsWith('127.') : LOOPBACK_V6.check(address, 'ipv6'))
    return (
      "loopback address: a sidecar would send this instance's share of the traffic back to the caller's own host; " +
      'make the provider register its host IP (allowLoopback: true on the source only where registry, providers and ' +
      'clients share one host)'
    );
  return undefined;
}

/** The DataIssue that skips an instance for its address (addressProblem), or undefined when the address is usable. */
export function addressIssue(
  where: string,
  addressField: string,
  address: string,
  allowLoopback: boolean,
): DataIssue | undefined {
  const reason = addressProblem(address, allowLoopback);
  if (reason === undefined) return undefined;
  return { field: `${where}.${addressField}`, value: address.slice(0, 128), reason, action: 'instance skipped' };
}

/**
 * The checks every registry's instance must pass to become a STATIC endpoint: a usable IP address (addressProblem)
 * and a port in 1..65535. Returns the DataIssue that skips the instance (same wording for every registry, so
 * problems.ts classifies them alike), or undefined when the instance is usable.
 */
export function endpointIssue(
  where: string,
  addressField: string,
  address: string,
  port: unknown,
  allowLoopback: boolean,
): DataIssue | undefined {
  const bad = addressIssue(where, addressField, address, allowLoopback);
  if (bad) return bad;
  if (!isPort(port)) {
    return {
      field: `${where}.port`,
      value: String(port).slice(0, 32),
      reason: 'port outside 1..65535',
      action: 'instance skipped',
    };
  }
  return undefined;
}

export const isPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
