/**
 * Host templates (`hostTemplate`, `interfaceHostTemplate`) turn a registry's service into a mesh host. A typo in a
 * placeholder renders as an empty string, and a template that names no service gives every service the same host,
 * which the projector then merges into one ServiceEntry: config validation refuses both at start-up.
 */

/** `{name}`: the placeholder syntax `renderHost` (services/collector/naming.ts) substitutes. */
export const PLACEHOLDER = /\{([a-zA-Z]+)\}/g;

/** What one template may use, and which of its placeholders tell one service from another. */
export interface TemplateVars {
  readonly known: readonly string[];
  readonly naming: readonly string[];
}

export const HOST_TEMPLATE_VARS = {
  dubboInterface: { known: ['interface', 'group', 'version', 'source'], naming: ['interface'] },
  dubboApplication: { known: ['app', 'interface', 'source'], naming: ['app', 'interface'] },
  dubboMappedInterface: { known: ['interface', 'source'], naming: ['interface'] },
  consul: { known: ['service', 'datacenter', 'source'], naming: ['service'] },
  eureka: { known: ['app', 'vip', 'source'], naming: ['app', 'vip'] },
  nacos: { known: ['service', 'group', 'nacosNamespace', 'source'], naming: ['service'] },
  nacosInterface: {
    known: ['interface', 'version', 'dubboGroup', 'service', 'group', 'nacosNamespace', 'source'],
    naming: ['interface', 'service'],
  },
} as const satisfies Record<string, TemplateVars>;

const braces = (names: readonly string[]) => names.map((n) => `{${n}}`).join(', ');

/** Why `template` cannot be used with `vars`, or undefined when it can. */
export function hostTemplateProblem(template: string, vars: TemplateVars): string | undefined {
  const used = [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
  const unknown = used.filter((n) => !vars.known.includes(n));
  if (unknown.length > 0)
    return `unknown placeholder ${braces([...new Set(unknown)])}; this template knows ${braces(vars.known)}`;
  if (/[{}]/.test(template.replace(PLACEHOLDER, '')))
    return `a "{" or "}" that is not part of a placeholder (${braces(vars.known)})`;
  if (!used.some((n) => vars.naming.includes(n)))
    return `names no service: use ${vars.naming.length > 1 ? 'one of ' : ''}${braces(vars.naming)}, or every service gets the same host`;
  return undefined;
}
