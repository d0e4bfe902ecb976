import net from 'node:net';
import type { DataIssue } from '../../schemas/registry-event.ts';

/**
 * The two checks every registry's instance must pass to become a STATIC endpoint: an IP address and a port in
 * 1..65535. Returns the DataIssue that skips the instance (same wording for every registry, so problems.ts classifies
 * them alike), or undefined when the instance is usable.
 */
export function endpointIssue(
  where: string,
  addressField: string,
  address: string,
  port: unknown,
): DataIssue | undefined {
  if (net.isIP(address) === 0) {
    return {
      field: `${where}.${addressField}`,
      value: address.slice(0, 128),
      reason: 'not an IP address (istio STATIC endpoints need IPs)',
      action: 'instance skipped',
    };
  }
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
