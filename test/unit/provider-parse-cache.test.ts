import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ProviderParseCache } from '../../services/collector/provider-parse-cache.ts';
import { providerParamsRead } from '../../services/collector/normalise-dubbo.ts';
import { formatDubboProviderUrl } from '../../harness/dubbo-url-format.ts';

const url = (host: string) =>
  formatDubboProviderUrl({
    protocol: 'dubbo',
    host,
    port: 20880,
    path: 'com.example.Api',
    params: { side: 'provider' },
  });

/** Provider i with a host of 13+ characters (V8 slices those) and 50 KB of a parameter the collector does not read. */
const heavyUrl = (i: number) =>
  formatDubboProviderUrl({
    protocol: 'dubbo',
    host: `10.101.${100 + (i >> 8)}.${100 + (i & 0x7f)}`,
    port: 20880,
    path: `com.example.Api${i}`,
    params: { side: 'provider', application: `app-${i}-with-a-long-name`, methods: 'x'.repeat(50_000) },
  });

describe('provider parse cache', () => {
  it('given a re-read, when a provider is unchanged, then its parse is reused; new ones are parsed; gone ones forgotten', () => {
    const cache = new ProviderParseCache();
    const [a, b, c] = [url('10.0.0.1'), url('10.0.0.2'), url('10.0.0.3')];
    const first = cache.parserFor('com.example.Api', [a, b]);
    const pa = first(a);
    assert.ok(pa.ok && pa.value.host === '10.0.0.1');
    const second = cache.parserFor('com.example.Api', [a, c]);
    assert.equal(second(a), pa, 'unchanged provider: the same parse, not a new one');
    const pc = second(c);
    assert.ok(pc.ok && pc.value.host === '10.0.0.3');
    const third = cache.parserFor('com.example.Api', [c]);
    assert.equal(third(c), pc);
    assert.notEqual(third(a), pa, 'a provider that left is no longer cached');
  });

  it('reports a malformed URL the same way as the parser', () => {
    const parse = new ProviderParseCache().parserFor('x', ['%zz']);
    assert.equal(parse('%zz').ok, false);
  });
});

describe('provider parse cache, compact', () => {
  it('given the parameters its user reads, keeps only those, and shares repeated strings between providers', () => {
    const withParams = (host: string) =>
      formatDubboProviderUrl({
        protocol: 'dubbo',
        host,
        port: 20880,
        path: 'com.example.Api',
        params: { side: 'provider', application: 'demo', methods: 'a,b,c', timestamp: '1700000000000' },
      });
    const [a, b] = [withParams('10.0.0.1'), withParams('10.0.0.2')];
    const parse = new ProviderParseCache((k) => ['side', 'application', 'weight'].includes(k)).parserFor(
      'com.example.Api',
      [a, b],
    );
    const pa = parse(a);
    const pb = parse(b);
    assert.ok(pa.ok && pb.ok);
    assert.deepEqual(pa.value.params, { side: 'provider', application: 'demo' });
    assert.equal(pa.value.host, '10.0.0.1');
    assert.equal(pa.value.path, 'com.example.Api');
  });
  it('given cached parses, then the cache keeps neither the znode names nor the decoded URLs they were cut from', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const cache = new ProviderParseCache(providerParamsRead({}));
    gc();
    const before = process.memoryUsage().heapUsed;
    let znodes = 0;
    // 2,000 providers, hosts of 13+ characters (V8 slices those), each URL carrying 50 KB the collector does not read;
    // the names are dropped after the read, as a ZooKeeper reply's are.
    const parses = (() => {
      const urls = Array.from({ length: 2_000 }, (_, i) => heavyUrl(i));
      znodes = urls.reduce((n, u) => n + u.length, 0);
      return urls.map((u, i) => cache.parserFor(`com.example.Api${i}`, [u])(u));
    })();
    gc();
    const held = process.memoryUsage().heapUsed - before;
    assert.ok(parses.every((p) => p.ok && p.value.host.startsWith('10.101.')));
    // Either kept per provider would hold about as much as the names themselves (~100 MB).
    assert.ok(
      held < znodes * 0.25,
      `cached parses hold ${(held / 2 ** 20).toFixed(0)} MiB after a read of ${(znodes / 2 ** 20).toFixed(0)} MiB of znode names`,
    );
    // A re-read finds them by digest: the same parse, not a new one.
    assert.equal(cache.parserFor('com.example.Api7', [heavyUrl(7)])(heavyUrl(7)), parses[7]);
  });
});
