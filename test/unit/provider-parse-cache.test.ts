import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProviderParseCache } from '../../services/collector/provider-parse-cache.ts';
import { formatDubboProviderUrl } from '../../harness/dubbo-url-format.ts';

const url = (host: string) =>
  formatDubboProviderUrl({
    protocol: 'dubbo',
    host,
    port: 20880,
    path: 'com.example.Api',
    params: { side: 'provider' },
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
    const parse = new ProviderParseCache(['side', 'application', 'weight']).parserFor('com.example.Api', [a, b]);
    const pa = parse(a);
    const pb = parse(b);
    assert.ok(pa.ok && pb.ok);
    assert.deepEqual(pa.value.params, { side: 'provider', application: 'demo' });
    assert.equal(pa.value.host, '10.0.0.1');
    assert.equal(pa.value.path, 'com.example.Api');
  });
});
