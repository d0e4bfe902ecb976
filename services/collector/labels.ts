import crypto from 'node:crypto';
import { isLabelKey, isLabelValue } from '../../schemas/istio-rules.ts';
import type { DataIssue } from '../../schemas/registry-event.ts';

export { isLabelKey as isValidLabelKey, isLabelValue as isValidLabelValue } from '../../schemas/istio-rules.ts';

/**
 * Rewrites a value into label syntax: invalid characters become '-', ends trimmed to alphanumerics, and values longer
 * than 63 keep a prefix plus a short hash so distinct values stay distinct. Returns undefined when nothing is left.
 */
export function sanitiseLabelValue(value: string): string | undefined {
  let v = value
    .replace(/[^-A-Za-z0-9_.]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  if (v.length > 63) {
    const h = crypto.createHash('sha256').update(value).digest('hex').slice(0, 8);
    v = `${v.slice(0, 54).replace(/[^A-Za-z0-9]+$/, '')}-${h}`;
  }
  return v.length > 0 || value.length === 0 ? v : undefined;
}

/**
 * Keeps what istiod accepts, rewrites what can be made valid and drops the rest, reporting each change as a
 * DataIssue — one bad registry label must never drop the whole service in istiod.
 */
export function sanitiseLabels(
  input: Record<string, string>,
  where: string,
): { labels: Record<string, string>; issues: DataIssue[] } {
  const labels: Record<string, string> = {};
  const issues: DataIssue[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (!isLabelKey(key)) {
      issues.push({
        field: `${where}.labels[${key.slice(0, 64)}]`,
        value: key.slice(0, 128),
        reason: 'label key is not a Kubernetes label key',
        action: 'dropped',
      });
      continue;
    }
    if (isLabelValue(value)) {
      labels[key] = value;
      continue;
    }
    const fixed = sanitiseLabelValue(value);
    if (fixed === undefined) {
      issues.push({
        field: `${where}.labels[${key}]`,
        value: value.slice(0, 128),
        reason: 'label value has no valid characters',
        action: 'dropped',
      });
    } else {
      labels[key] = fixed;
      issues.push({
        field: `${where}.labels[${key}]`,
        value: value.slice(0, 128),
        reason: 'label value is not valid Kubernetes label syntax',
        action: `rewritten to "${fixed}"`,
      });
    }
  }
  return { labels, issues };
}
