import crypto from 'node:crypto';
import { parseDubboProviderUrl } from './dubbo-url.ts';
import { Sharing } from './sharing.ts';

type Parsed = ReturnType<typeof parseDubboProviderUrl>;
export type ProviderParser = (znode: string) => Parsed;

/**
 * Parsed provider URLs per interface, kept only for the znodes an interface still has: a watch event or a full
 * re-read of a registry with 10,000 interfaces parses only the providers that are new since the last read, not all
 * of them again. Bounded by the registry itself (each read replaces the interface's entries).
 */
export class ProviderParseCache {
  /** Interface -> digest of each provider znode name (znodeKey) -> its parse. */
  private readonly byInterface = new Map<string, Map<string, Parsed>>();

  /**
   * `keep`: the URL parameters the cache's user reads (normalise-dubbo.ts providerParamsRead: the fixed ones and what
   * the source's label rules match); a cached provider holds only those. A Dubbo URL carries 15–30 parameters: kept
   * whole, the parses of 500,000 providers (50,000 interfaces × 10) held ~490 MB of small objects that every major
   * collection of the collector had to mark.
   */
  constructor(private readonly keep?: (param: string) => boolean) {}

  /** A parser for this read of `iface`'s children, which become the interface's cached set. */
  parserFor(iface: string, children: readonly string[]): ProviderParser {
    const old = this.byInterface.get(iface);
    const next = new Map<string, Parsed>();
    // By the read's own strings for this read's lookups (dropped with the parser), by digest for the next read.
    const thisRead = new Map<string, Parsed>();
    for (const c of children) {
      const key = znodeKey(c);
      const parsed = old?.get(key) ?? this.parse(c);
      next.set(key, parsed);
      thisRead.set(c, parsed);
    }
    this.byInterface.set(iface, next);
    return (znode) => thisRead.get(znode) ?? parseDubboProviderUrl(znode);
  }

  /**
   * Shared copies of the strings many providers repeat (protocol, path, kept parameter values). Besides the copies
   * themselves, a string cut out of a decoded URL can keep the whole URL alive (V8 slices strings): one per value.
   */
  private readonly strings = new Map<string, string>();
  /** Shared kept-parameter records (normalisation only reads them). */
  private readonly paramSets = new Sharing<Record<string, string>>(100_000);

  private intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    // Bounded: values seen once over months of churn must not pile up (cached parses keep their own strings).
    if (this.strings.size >= 1_000_000) this.strings.clear();
    const own = detached(s);
    this.strings.set(own, own);
    return own;
  }

  private parse(znode: string): Parsed {
    const parsed = parseDubboProviderUrl(znode);
    if (!parsed.ok || !this.keep) return parsed;
    const kept: Record<string, string> = {};
    // In name order, so that providers listing the same parameters in another order share one record.
    for (const k of Object.keys(parsed.value.params).filter(this.keep).sort())
      kept[k] = this.intern(parsed.value.params[k]!);
    // The providers of one application carry the same kept parameters: one record for all of them.
    const params = this.paramSets.of(kept);
    const { protocol, host, port, path } = parsed.value;
    return {
      ok: true,
      value: { protocol: this.intern(protocol), host: detached(host), port, path: this.intern(path), params },
    };
  }

  forget(iface: string): void {
    this.byInterface.delete(iface);
  }
}

/**
 * A copy of `s` that refers to no other string. A substring of 13 or more characters is a view into its parent in V8
 * (a sliced string): a host such as `10.101.200.17` cut out of a decoded provider URL kept that whole ~270-character
 * URL alive for as long as the parse was cached — 77,000 URLs (21 MiB) at 10,000 interfaces × 10 in a heap snapshot
 * of the collector, five times that at 50,000. The bytes' round trip costs well under a microsecond.
 */
function detached(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * What the cache remembers a provider znode by: its SHA-256, 44 characters instead of the 250–350 of a URL-encoded
 * provider URL. The names themselves were the largest thing a collector held (100,000 of them, 33.5 MiB, at 10,000
 * interfaces × 10); a digest costs ~2 µs per provider read, ~1 s over a 50,000-interface start-up re-read.
 * (`crypto.hash` is Node 20.12+: package.json's engines.)
 */
function znodeKey(znode: string): string {
  return crypto.hash('sha256', znode, 'base64');
}
