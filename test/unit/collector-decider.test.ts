import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceSpec } from '../../schemas/registry-event.ts';
import {
  handle,
  holdsReadAt,
  initialDeciderState,
  type CollectorEvent,
  type DeciderConfig,
  type DeciderState,
  type Observation,
} from '../../services/collector/decider.ts';
import { metricField, reasonCode } from '../../services/collector/problems.ts';
import type { ServiceState } from '../../services/collector/service-state.ts';

// given/when/then over the collector's pure decider: observations in, decided events out.
const CFG: DeciderConfig = { emptyProtection: 'off', emitOrderToken: true };
const inst = (address: string, port = 20880): InstanceSpec => ({
  address,
  ports: { 'tcp-dubbo': port },
  labels: { 'meshbridge.io/source': 'zk1' },
  weight: 0,
  locality: '',
});
function svc(key: string, addresses: string[], over: Partial<ServiceState> = {}): ServiceState {
  return {
    namespace: 'dubbo',
    host: key.toLowerCase().replace(/\$/g, '-'),
    registryService: key,
    ports: [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }],
    instances: addresses.map((a) => inst(a)),
    issues: [],
    ...over,
  };
}
const present = (
  key: string,
  addresses: string[],
  order: number | null = null,
  over: Partial<ServiceState> = {},
): Observation => ({ type: 'present', key, state: svc(key, addresses, over), order });
const absent = (key: string): Observation => ({ type: 'absent', key });

function given(observations: Observation[], cfg = CFG): DeciderState {
  const s = initialDeciderState();
  for (const o of observations) handle(s, o, cfg);
  return s;
}
const when = (s: DeciderState, o: Observation, cfg = CFG) => handle(s, o, cfg);
const published = (events: CollectorEvent[]) =>
  events.flatMap((e) => {
    if (e.type === 'host-published')
      return [`state ${e.hostKey} ${e.publish.state.instances.map((i) => i.address).join(',')}`];
    if (e.type === 'host-removed') return e.byMarker ? [] : [`removed ${e.hostKey}`];
    if (e.type === 'resync-ended') return [`marker ${e.hosts.join(' ')}`];
    return [];
  });

describe('collector decider: publishing', () => {
  it('given nothing, when a service is observed, then its complete state is published', () => {
    assert.deepEqual(published(when(given([]), present('com.a.Svc', ['10.0.0.1', '10.0.0.2']))), [
      'state dubbo/com.a.svc 10.0.0.1,10.0.0.2',
    ]);
  });

  it('given a published state, when the same state is observed again, then nothing is published', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'], 5)]);
    assert.deepEqual(published(when(s, present('com.a.Svc', ['10.0.0.1'], 6))), []);
  });

  it('given a published service, when it vanishes, then its removal is published; an unknown one publishes nothing', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'])]);
    assert.deepEqual(published(when(s, absent('com.a.Svc'))), ['removed dubbo/com.a.svc']);
    assert.deepEqual(published(when(s, absent('com.never.Seen'))), []);
  });

  it('given a state at order 7, when an older read (order 6) finishes late, then it is ignored', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1', '10.0.0.2'], 7)]);
    assert.deepEqual(published(when(s, present('com.a.Svc', ['10.0.0.1'], 6))), []);
    assert.equal(s.keys.get('com.a.Svc')!.state.instances.length, 2);
  });

  it('given a service whose host template output changes, then the old host is removed and the new one published', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'])]);
    const events = when(s, {
      type: 'present',
      key: 'com.a.Svc',
      state: { ...svc('com.a.Svc', ['10.0.0.1']), host: 'v2.com.a.svc' },
      order: null,
    });
    assert.deepEqual(published(events).sort(), ['removed dubbo/com.a.svc', 'state dubbo/v2.com.a.svc 10.0.0.1']);
  });

  it('given Kafka refused the last event of a host, when the same state is observed again, then it is published again', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'])]);
    when(s, { type: 'unconfirmed', hosts: ['dubbo/com.a.svc'] });
    assert.deepEqual(published(when(s, present('com.a.Svc', ['10.0.0.1']))), ['state dubbo/com.a.svc 10.0.0.1']);
  });

  it('given a registry whose order restarted (ZooKeeper rebuilt empty), when orders are reset, then lower orders publish with the last token as a floor', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'], 24)]);
    assert.deepEqual(published(when(s, present('com.a.Svc', ['10.0.0.9'], 5))), [], 'without a reset: an older read');
    when(s, { type: 'order-reset' });
    const e = when(s, present('com.a.Svc', ['10.0.0.9'], 5)).find((x) => x.type === 'host-published');
    assert.ok(e?.type === 'host-published');
    assert.deepEqual(
      e.publish.state.instances.map((i) => i.address),
      ['10.0.0.9'],
    );
    assert.equal(e.publish.token, 24);
  });

  it('order tokens: the host token is the newest of its keys, never below what was published; Consul emits none', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'], 9)]);
    const e = when(s, present('com.a.Svc', ['10.0.0.2'], 12)).find((x) => x.type === 'host-published');
    assert.equal(e?.type === 'host-published' && e.publish.token, 12);
    const consul = { ...CFG, emitOrderToken: false };
    const c = when(given([], consul), present('web', ['10.0.0.1'], 40), consul).find(
      (x) => x.type === 'host-published',
    );
    assert.equal(c?.type === 'host-published' && c.publish.token, null);
  });
});

describe('collector decider: empty-instance protection', () => {
  const keepLast: DeciderConfig = { ...CFG, emptyProtection: 'keep-last' };
  it('given keep-last and instances, when the service suddenly reports none, then the last state is held (and counted)', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'])], keepLast);
    const events = when(s, present('com.a.Svc', []), keepLast);
    assert.deepEqual(published(events), []);
    assert.ok(events.some((e) => e.type === 'empty-held'));
  });
  it('given keep-last, when the service is removed from the registry altogether, then the removal is published', () => {
    const s = given([present('com.a.Svc', ['10.0.0.1'])], keepLast);
    assert.deepEqual(published(when(s, absent('com.a.Svc'), keepLast)), ['removed dubbo/com.a.svc']);
  });
});

describe('collector decider: full re-reads never delete a live service', () => {
  it('given services A and D, when a re-read sees A, and B is registered (watch) while it runs, then the marker keeps A and B and drops D', () => {
    const s = given([present('A', ['10.0.0.1']), present('D', ['10.0.0.4'])]);
    when(s, { type: 'resync-started' });
    when(s, present('A', ['10.0.0.1'])); // the re-read's own read: unchanged, nothing published
    assert.deepEqual(published(when(s, present('B', ['10.0.0.2']))), ['state dubbo/b 10.0.0.2']); // a watch, mid re-read
    const end = when(s, { type: 'resync-finished' });
    assert.deepEqual(published(end), ['marker dubbo/a dubbo/b']); // D: removed by the marker, which does not list it
    const marker = end.find((e) => e.type === 'resync-ended');
    assert.deepEqual(marker?.type === 'resync-ended' && marker.dropped, ['D']);
  });

  it('given a service observed before the re-read only, when the re-read ends without seeing it, then it is dropped', () => {
    const s = given([present('A', ['10.0.0.1'])]);
    when(s, { type: 'resync-started' });
    assert.deepEqual(published(when(s, { type: 'resync-finished' })), ['marker ']);
    assert.equal(s.hosts.size, 0);
  });

  it('given an older read finishing during the re-read, then the key still counts as observed by it', () => {
    const s = given([present('A', ['10.0.0.1', '10.0.0.2'], 8)]);
    when(s, { type: 'resync-started' });
    when(s, present('A', ['10.0.0.1'], 7));
    assert.deepEqual(published(when(s, { type: 'resync-finished' })), ['marker dubbo/a']);
  });

  it('given a fresh decider (a new leader), when its first re-read reads everything, then it republishes every service and lists them', () => {
    const s = given([]);
    when(s, { type: 'resync-started' });
    when(s, present('A', ['10.0.0.1']));
    when(s, present('B', []));
    assert.deepEqual(published(when(s, { type: 'resync-finished' })), ['marker dubbo/a dubbo/b']);
  });
});

describe('collector decider: a periodic re-read that finds a key unchanged since its last read', () => {
  const unchanged = (key: string): Observation => ({ type: 'unchanged', key });
  it('given a read at version 8, then the decider holds the read at 8 and at no other version (or for another key)', () => {
    const s = given([present('A', ['10.0.0.1'], 8)]);
    assert.equal(holdsReadAt(s, 'A', 8), true);
    assert.equal(holdsReadAt(s, 'A', 9), false);
    assert.equal(holdsReadAt(s, 'B', 8), false);
    when(s, { type: 'order-reset' });
    assert.equal(holdsReadAt(s, 'A', 8), false, 'a new session forgets the versions: nothing counts as unchanged');
  });

  it('given A and D, when a re-read finds A unchanged and never sees D, then the marker keeps A and drops D, publishing nothing for A', () => {
    const s = given([present('A', ['10.0.0.1'], 3), present('D', ['10.0.0.4'], 4)]);
    when(s, { type: 'resync-started' });
    assert.deepEqual(published(when(s, unchanged('A'))), []);
    assert.deepEqual(published(when(s, { type: 'resync-finished' })), ['marker dubbo/a']);
  });

  it('given Kafka refused the last event of a host, when its key is found unchanged, then the held state is published again', () => {
    const s = given([present('A', ['10.0.0.1'], 3)]);
    when(s, { type: 'unconfirmed', hosts: ['dubbo/a'] });
    when(s, { type: 'resync-started' });
    assert.deepEqual(published(when(s, unchanged('A'))), ['state dubbo/a 10.0.0.1']);
  });

  it('given keep-last holding an emptied service, when it is found unchanged, then the hold is decided again (and counted), not skipped', () => {
    const keepLast: DeciderConfig = { ...CFG, emptyProtection: 'keep-last' };
    const s = given([present('A', ['10.0.0.1'], 3), present('A', [], 4)], keepLast);
    when(s, { type: 'resync-started' }, keepLast);
    const events = when(s, unchanged('A'), keepLast);
    assert.deepEqual(published(events), []);
    assert.ok(events.some((e) => e.type === 'empty-held'));
    assert.deepEqual(published(when(s, { type: 'resync-finished' }, keepLast)), ['marker dubbo/a']);
  });

  it('given a key that vanished (a watch read it absent) before the unchanged verdict lands, then nothing is published or kept', () => {
    const s = given([present('A', ['10.0.0.1'], 3)]);
    when(s, { type: 'resync-started' });
    when(s, absent('A'));
    assert.deepEqual(published(when(s, unchanged('A'))), []);
    assert.deepEqual(published(when(s, { type: 'resync-finished' })), ['marker ']);
  });
});

describe('collector decider: registry keys that map to one mesh host are merged, never hidden', () => {
  // 'com.example.Outer$InnerAPI' and 'com.example.outer$innerapi' both normalise to host com.example.outer-innerapi.
  const K1 = 'com.example.Outer$InnerAPI';
  const K2 = 'com.example.outer$innerapi';
  const HOST = 'dubbo/com.example.outer-innerapi';

  it('given one key, when a second key maps to the same host, then the host has the union of endpoints and says so', () => {
    const s = given([present(K1, ['10.0.0.1'])]);
    const events = when(s, present(K2, ['10.0.0.2']));
    assert.deepEqual(published(events), [`state ${HOST} 10.0.0.1,10.0.0.2`]);
    const e = events.find((x) => x.type === 'host-published');
    assert.equal(e?.type === 'host-published' && e.publish.state.registryService, `${K1},${K2}`);
    assert.ok(
      e?.type === 'host-published' &&
        e.publish.state.issues.some(
          (i) => i.field === 'registryService' && /2 registry services map to mesh host/.test(i.reason),
        ),
    );
    const raised = events.filter((x) => x.type === 'problem-raised');
    assert.deepEqual(
      raised.map((x) => x.type === 'problem-raised' && x.problem.metricReason),
      ['host-collision'],
    );
  });

  it('given a merged host, when one key goes, then only its endpoints go and the collision is reported gone', () => {
    const s = given([present(K1, ['10.0.0.1']), present(K2, ['10.0.0.2'])]);
    const events = when(s, absent(K2));
    assert.deepEqual(published(events), [`state ${HOST} 10.0.0.1`]);
    assert.ok(events.some((e) => e.type === 'problem-cleared' && e.problem.metricReason === 'host-collision'));
    assert.deepEqual(published(when(s, absent(K1))), [`removed ${HOST}`]);
  });

  it('given a merged host, the same arrivals in either order publish the same bytes', () => {
    const a = given([present(K1, ['10.0.0.1']), present(K2, ['10.0.0.2'])]);
    const b = given([present(K2, ['10.0.0.2']), present(K1, ['10.0.0.1'])]);
    assert.equal(a.hosts.get(HOST)!.hash, b.hosts.get(HOST)!.hash);
  });

  it('given two keys that disagree on a port number under one name, the first key in name order wins and the conflict is reported', () => {
    const s = given([present(K1, ['10.0.0.1'])]);
    const events = when(s, {
      type: 'present',
      key: K2,
      order: null,
      state: {
        ...svc(K2, []),
        ports: [{ name: 'tcp-dubbo', number: 20881, protocol: 'TCP' }],
        instances: [inst('10.0.0.2', 20881)],
      },
    });
    const e = events.find((x) => x.type === 'host-published');
    assert.ok(e?.type === 'host-published');
    assert.deepEqual(e.publish.state.ports, [{ name: 'tcp-dubbo', number: 20880, protocol: 'TCP' }]);
    assert.ok(events.some((x) => x.type === 'problem-raised' && x.problem.metricReason === 'port-conflict'));
  });
});

describe('collector decider: problems are reported once, with bounded labels', () => {
  const bad = {
    issues: [
      {
        field: 'providers[10.0.0.9:20880].labels[version]',
        value: 'a b',
        reason: 'label value is not valid Kubernetes label syntax',
        action: 'rewritten to "a-b"',
      },
    ],
  };
  it('given a problem, when the same data is read again (a re-read), then it is not reported again; when fixed, it is reported gone', () => {
    const s = given([]);
    assert.equal(when(s, present('A', ['10.0.0.1'], null, bad)).filter((e) => e.type === 'problem-raised').length, 1);
    assert.equal(when(s, present('A', ['10.0.0.1'], null, bad)).filter((e) => e.type.startsWith('problem')).length, 0);
    when(s, { type: 'resync-started' });
    assert.equal(when(s, present('A', ['10.0.0.1'], null, bad)).filter((e) => e.type.startsWith('problem')).length, 0);
    assert.deepEqual(
      when(s, present('A', ['10.0.0.1']))
        .map((e) => e.type)
        .filter((t) => t.startsWith('problem')),
      ['problem-cleared'],
    );
  });

  it('metric labels never carry an address, instance, label key or service name', () => {
    assert.equal(metricField('providers[10.0.0.9:20880].labels[version]'), 'providers.labels');
    assert.equal(metricField('instances[node-1.example/payments-1].meta.protocol'), 'instances.meta');
    assert.equal(metricField('instances[n1/x].address'), 'instances.address');
    assert.equal(metricField('providers.port'), 'providers.port');
    assert.equal(metricField('apps[demo].ports'), 'apps.ports');
    assert.equal(metricField('provider 127.0.0.1:1.labels.version'), 'other');
    assert.equal(reasonCode('"x" is not an IP address (istio STATIC endpoints need IPs)'), 'not-ip');
    assert.equal(reasonCode('70000 is outside 1..65535'), 'port');
    assert.equal(reasonCode('2 registry services map to mesh host a.b'), 'host-collision');
    assert.equal(reasonCode('something new'), 'other');
  });
});
