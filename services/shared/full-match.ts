/**
 * Config patterns (label rules' `match`, `excludeServices`, `excludeApps`) are full-match regular expressions: a
 * pattern must match a whole name, tag or key. One place compiles them, so what config validation accepts is exactly
 * what the collectors run.
 */

const compiled = new Map<string, RegExp>();

/** Why `pattern` cannot be used as a full-match regex, or undefined when it can. */
export function fullMatchProblem(pattern: string): string | undefined {
  try {
    // Both forms: `a)(b` is invalid alone but valid once wrapped, and would silently mean something else.
    new RegExp(pattern);
    new RegExp(wrap(pattern));
    return undefined;
  } catch (e) {
    return `not a valid regular expression (${(e as Error).message})`;
  }
}

/** The regex `pattern` means, compiled once per pattern (label rules run for every instance of every read). */
export function fullMatch(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RegExp(wrap(pattern));
    compiled.set(pattern, re);
  }
  return re;
}

/** Keeps a name unless one of the patterns matches it whole. */
export function nameFilter(excludePatterns: readonly string[]): (name: string) => boolean {
  const excluded = excludePatterns.map(fullMatch);
  return (name) => !excluded.some((re) => re.test(name));
}

function wrap(pattern: string): string {
  return `^(?:${pattern})$`;
}
