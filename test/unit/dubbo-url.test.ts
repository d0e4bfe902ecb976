import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDubboProviderUrl } from '../../services/collector/dubbo-url.ts';
import { formatDubboProviderUrl } from '../../harness/dubbo-url-format.ts';

// A child name exactly as Dubbo 2.7's ZookeeperRegistry writes it (URL.encode of the full URL string).
const REAL =
  'dubbo%3A%2F%2F192.168.1.5%3A20880%2Forg.apache.dubbo.demo.DemoService%3Fanyhost%3Dtrue%26application%3Ddemo-provider%26deprecated%3Dfalse%26dubbo%3D2.0.2%26dynamic%3Dtrue%26generic%3Dfalse%26interface%3Dorg.apache.dubbo.demo.DemoService%26methods%3DsayHello%2CsayHelloAsync%26pid%3D1234%26release%3D2.7.23%26side%3Dprovider%26timestamp%3D1700000000000';

describe('parseDubboProviderUrl', () => {
  it('parses a real Dubbo provider znode name', () => {
    const r = parseDubboProviderUrl(REAL);
    assert.ok(r.ok);
    assert.equal(r.value.protocol, 'dubbo');
    assert.equal(r.value.host, '192.168.1.5');
    assert.equal(r.value.port, 20880);
    assert.equal(r.value.path, 'org.apache.dubbo.demo.DemoService');
    assert.equal(r.value.params.methods, 'sayHello,sayHelloAsync');
    assert.equal(r.value.params.side, 'provider');
  });

  it('parses IPv6 hosts in brackets and the tri protocol', () => {
    const r = parseDubboProviderUrl(encodeURIComponent('tri://[fd00::5]:50051/com.foo.Greeter?side=provider'));
    assert.ok(r.ok);
    assert.equal(r.value.host, 'fd00::5');
    assert.equal(r.value.protocol, 'tri');
    assert.equal(r.value.port, 50051);
  });

  it('round-trips with formatDubboProviderUrl', () => {
    const p = {
      protocol: 'dubbo',
      host: '10.1.2.3',
      port: 20881,
      path: 'a.B',
      params: { side: 'provider', version: '1.0.0' },
    };
    const r = parseDubboProviderUrl(formatDubboProviderUrl(p));
    assert.deepEqual(r, { ok: true, value: p });
  });

  const bad: [string, string, RegExp][] = [
    ['%E0%A4%A', 'url', /URL-encoding/],
    ['not-a-url', 'url', /protocol:\/\/host:port/],
    [encodeURIComponent('dubbo://provider-host.local:20880/a.B'), 'host', /not an IP address/],
    [encodeURIComponent('dubbo://10.0.0.1/a.B'), 'port', /missing port/],
    [encodeURIComponent('dubbo://10.0.0.1:abc/a.B'), 'port', /not a number/],
    [encodeURIComponent('dubbo://10.0.0.1:0/a.B'), 'port', /outside 1\.\.65535/],
    [encodeURIComponent('dubbo://10.0.0.1:70000/a.B'), 'port', /outside 1\.\.65535/],
    [encodeURIComponent('dubbo://:20880/a.B'), 'host', /empty host/],
  ];
  for (const [input, field, reason] of bad) {
    it(`rejects ${decodeURIComponentSafe(input)} with an error naming the ${field}`, () => {
      const r = parseDubboProviderUrl(input);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.field, field);
        assert.match(r.error.reason, reason);
      }
    });
  }

  it('never throws on arbitrary input', () => {
    for (const s of [
      '',
      '%',
      '%%%',
      '://',
      'dubbo://',
      'a'.repeat(100_000),
      '\u0000\uffff',
      encodeURIComponent('dubbo://[::1:20880/x'),
    ]) {
      assert.doesNotThrow(() => parseDubboProviderUrl(s));
    }
  });
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
