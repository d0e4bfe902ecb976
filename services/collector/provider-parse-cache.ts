import { parseDubboProviderUrl } from './dubbo-url.ts';

type Parsed = ReturnType<typeof parseDubboProviderUrl>;
export type ProviderParser = (znode: string) => Parsed;

/**
 * Parsed provider URLs per interface, kept only for the znodes an interface still has: a watch event or a full
 * re-read of a registry with 10,000 interfaces parses only the providers that are new since the last read, not all
 * of them again. Bounded by the registry itself (each read replaces the interface's entries).
 */
export class ProviderParseCache {
  private readonly byInterface = new Map<string, Map<string, Parsed>>();

  /** A parser for this read of `iface`'s children, which become the interface's cached set. */
  parserFor(iface: string, children: readonly string[]): ProviderParser {
    const old = this.byInterface.get(iface);
    const next = new Map<string, Parsed>();
    for (const c of children) next.set(c, old?.get(c) ?? parseDubboProviderUrl(c));
    this.byInterface.set(iface, next);
    return (znode) => next.get(znode) ?? parseDubboProviderUrl(znode);
  }

  forget(iface: string): void {
    this.byInterface.delete(iface);
  }
}
