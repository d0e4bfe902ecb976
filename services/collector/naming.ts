import crypto from 'node:crypto';
import { PLACEHOLDER } from '../../services/shared/host-template.ts';

/** A DNS-1123 label: lower case alphanumerics and '-', 1..63 chars, alphanumeric at both ends. */
export function dnsLabel(s: string): string {
  let v = s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (v.length > 63)
    v = `${v.slice(0, 54).replace(/-+$/, '')}-${crypto.createHash('sha256').update(s).digest('hex').slice(0, 8)}`;
  return v;
}

/** A DNS name made of valid labels; empty labels are dropped. Never contains ':' (Dubbo keys do; istiod rejects). */
export function dnsName(s: string): string {
  return s.split('.').map(dnsLabel).filter(Boolean).join('.').slice(0, 253).replace(/\.+$/, '');
}

/**
 * Renders a host template such as `{interface}` or `{version}.{group}.{interface}`. Variables other than the
 * interface have their dots replaced, so `1.0.0` stays one DNS label instead of three.
 */
export function renderHost(template: string, vars: Record<string, string | undefined>): string {
  const rendered = template.replace(PLACEHOLDER, (_, name: string) => {
    const v = vars[name] ?? '';
    return name === 'interface' || name === 'app' ? v : v.replace(/\./g, '-');
  });
  return dnsName(rendered);
}
