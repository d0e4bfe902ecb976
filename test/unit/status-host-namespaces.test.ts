import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostNamespacesCheck, hostsInSeveralNamespaces } from '../../services/status/host-namespaces.ts';
import { resourceField } from '../../snapshot-store/resource-field.ts';

const se = (name: string) => resourceField('ServiceEntry', name);

describe('hostsInSeveralNamespaces', () => {
  it('given every host in one namespace, then none is reported', () => {
    assert.deepEqual([...hostsInSeveralNamespaces([se('dubbo/a.svc'), se('nacos/b.svc'), se('dubbo/c.svc')])], []);
  });

  it('given a host in two namespaces, then it is reported with both, sorted', () => {
    assert.deepEqual(
      [...hostsInSeveralNamespaces([se('nacos/org.foo.svc'), se('dubbo/a.svc'), se('dubbo/org.foo.svc')])],
      [['org.foo.svc', ['dubbo', 'nacos']]],
    );
  });
});

describe('hostNamespacesCheck (the status line)', () => {
  it('given no such host, then ok', () => {
    assert.deepEqual(hostNamespacesCheck([se('dubbo/a.svc')]), {
      check: 'mesh hosts',
      outcome: 'ok',
      detail: 'every host is served from one namespace',
    });
  });

  it('given seven such hosts, then a warning naming five and how to fix it', () => {
    const fields = Array.from({ length: 7 }, (_, i) => [se(`dubbo/h${i}.svc`), se(`nacos/h${i}.svc`)]).flat();
    const c = hostNamespacesCheck(fields);
    assert.equal(c.outcome, 'warn');
    assert.match(c.detail, /^7 host\(s\) served from several namespaces, and a sidecar uses only one of each: /);
    assert.match(c.detail, /h0\.svc \(dubbo, nacos\); .*h4\.svc \(dubbo, nacos\); and 2 more\. /);
    assert.match(c.detail, /same `namespace`/);
  });
});
