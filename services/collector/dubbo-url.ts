import net from 'node:net';
import { err, ok, type Result } from '../../services/shared/errors.ts';

/** One provider registration as Apache Dubbo writes it under /dubbo/<interface>/providers/. */
export interface DubboProvider {
  protocol: string;
  host: string;
  port: number;
  /** The path of the URL; normally the interface name. */
  path: string;
  params: Record<string, string>;
}

export interface DubboUrlError {
  znode: string;
  field: string;
  reason: string;
}

/**
 * Parses a providers child znode name: a URL-encoded `protocol://host:port/path?k=v&...`. Malformed input is
 * returned as an error naming the field, never thrown.
 */
export function parseDubboProviderUrl(znode: string): Result<DubboProvider, DubboUrlError> {
  const fail = (field: string, reason: string) => err({ znode: znode.slice(0, 512), field, reason });
  let decoded: string;
  try {
    decoded = decodeURIComponent(znode);
  } catch {
    return fail('url', 'not valid URL-encoding (a stray % or broken UTF-8)');
  }
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[^\]]+\]|[^/:?#]*)(?::([^/?#]*))?(\/[^?#]*)?(?:\?([^#]*))?/.exec(
    decoded,
  );
  if (!m) return fail('url', 'not of the form protocol://host:port/interface?params');
  const [, protocol = '', rawHost = '', rawPort, rawPath, query] = m;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (!host) return fail('host', 'empty host');
  if (net.isIP(host) === 0)
    return fail('host', `"${host.slice(0, 64)}" is not an IP address (istio STATIC endpoints need IPs)`);
  if (rawPort === undefined || rawPort === '') return fail('port', 'missing port');
  if (!/^\d+$/.test(rawPort)) return fail('port', `"${rawPort.slice(0, 16)}" is not a number`);
  const port = Number(rawPort);
  if (port < 1 || port > 65535) return fail('port', `${port} is outside 1..65535`);
  const params: Record<string, string> = {};
  for (const pair of (query ?? '').split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    const v = eq < 0 ? '' : pair.slice(eq + 1);
    try {
      params[decodeURIComponent(k)] = decodeURIComponent(v.replace(/\+/g, ' '));
    } catch {
      params[k] = v; // a param with a broken escape is kept raw; labels are sanitised later anyway
    }
  }
  const path = (rawPath ?? '').replace(/^\//, '');
  return ok({ protocol: protocol.toLowerCase(), host, port, path, params });
}
