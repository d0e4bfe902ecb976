import { fullMatch } from '../../services/shared/full-match.ts';
import type { LabelRule } from '../../services/shared/config.ts';

/** A rule over one key/value map (Eureka and Nacos metadata, Dubbo URL parameters): Consul's `service-meta` rule. */
export type KeyValueRule = Omit<LabelRule, 'from'>;

/**
 * Applies label rules to one instance's tags and meta. Pure; the first rule to set a label wins. `match` is a
 * full-match regex over the tag or the meta key; `label` and `value` are String.replace templates over that match,
 * and a meta rule's `value` may say `{value}` for the meta value.
 */
export function labelsFromRules(
  rules: readonly LabelRule[],
  tags: readonly string[],
  serviceMeta: Record<string, string>,
  nodeMeta: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rule of rules) {
    if (rule.from === 'tag') {
      const re = fullMatch(rule.match);
      for (const tag of tags) {
        const m = re.exec(tag);
        if (!m) continue;
        const label = tag.replace(re, rule.label ?? '$1');
        const value = rule.value !== undefined ? tag.replace(re, rule.value) : (m[2] ?? 'true');
        if (label && !Object.hasOwn(out, label)) out[label] = value;
      }
    } else {
      metaRule(rule, rule.from === 'service-meta' ? serviceMeta : nodeMeta, out);
    }
  }
  return out;
}

/**
 * Every rule read as a meta rule over one map: what Eureka, Nacos and Dubbo sources have to label from. Only string
 * values label (Dubbo's instance metadata is untrusted JSON); `emptyIsNone`: an empty value labels nothing either
 * (Dubbo writes `version=` for "no version").
 */
export function labelsFromMap(
  rules: readonly KeyValueRule[],
  map: Readonly<Record<string, unknown>>,
  emptyIsNone = false,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rule of rules) metaRule(rule, map, out, emptyIsNone);
  return out;
}

function metaRule(
  rule: KeyValueRule,
  meta: Readonly<Record<string, unknown>>,
  out: Record<string, string>,
  emptyIsNone = false,
): void {
  const usable = (v: unknown): v is string => typeof v === 'string' && !(emptyIsNone && v === '');
  const key = literalKey(rule.match);
  // A rule naming one key without templates (every default rule) looks it up instead of testing every key: the Dubbo
  // source runs its rules over each provider's parameters at every read.
  if (key !== undefined && !rule.label?.includes('$') && !rule.value?.includes('$')) {
    const v = Object.hasOwn(meta, key) ? meta[key] : undefined;
    if (!usable(v)) return;
    const label = rule.label ?? key;
    if (!Object.hasOwn(out, label)) out[label] = rule.value !== undefined ? rule.value.replace(/\{value\}/g, v) : v;
    return;
  }
  const re = fullMatch(rule.match);
  for (const [key, v] of Object.entries(meta)) {
    if (!usable(v) || !re.test(key)) continue;
    const label = rule.label !== undefined ? key.replace(re, rule.label) : key;
    const value = rule.value !== undefined ? key.replace(re, rule.value).replace(/\{value\}/g, v) : v;
    if (label && !Object.hasOwn(out, label)) out[label] = value;
  }
}

/**
 * Which keys of a map some rule can read: a set lookup for rules that name a key literally (every default rule), the
 * regex only for the others. The Dubbo source keeps just these parameters of each cached provider URL.
 */
export function keysReadBy(rules: readonly KeyValueRule[]): (key: string) => boolean {
  const literal = new Set<string>();
  const patterns: RegExp[] = [];
  for (const r of rules) {
    const key = literalKey(r.match);
    if (key !== undefined) literal.add(key);
    else patterns.push(fullMatch(r.match));
  }
  return (key) => literal.has(key) || patterns.some((re) => re.test(key));
}

const literalKeys = new Map<string, string | undefined>();

/** The one key a pattern full-matches when it is a plain name (`version`, `dubbo\\.tag`), else undefined. */
function literalKey(pattern: string): string | undefined {
  if (literalKeys.has(pattern)) return literalKeys.get(pattern);
  const key = /^(?:[-A-Za-z0-9_/:@]|\\[.\-/])+$/.test(pattern) ? pattern.replace(/\\(.)/g, '$1') : undefined;
  literalKeys.set(pattern, key);
  return key;
}
