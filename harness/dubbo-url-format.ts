import type { DubboProvider } from '../services/collector/dubbo-url.ts';

/** Builds the znode name Dubbo would write for a provider (harness, tests, demo provider). */
export function formatDubboProviderUrl(p: DubboProvider): string {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  const q = Object.entries(p.params)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return encodeURIComponent(`${p.protocol}://${host}:${p.port}/${p.path}${q ? `?${q}` : ''}`);
}
