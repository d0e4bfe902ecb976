import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, getJson, type Servers, type Pipeline } from '../../harness/stack.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { DubboAppRegistrar } from '../../harness/dubbo-app-registrar.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';

describe('Dubbo 3 application-level discovery, next to an interface-level source in the same collector', () => {
  let servers: Servers;
  let mb: Pipeline;
  let apps: DubboAppRegistrar;
  let ifaces: DubboRegistrar;
  let tail: EventTail;
  const id = crypto.randomBytes(3).toString('hex');
  const servicesRoot = `/services-${id}`;
  const dubboRoot = `/dubbo-${id}`;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-collector-dubbo-app'));
    mb = await pipeline(servers, {
      sources: [
        {
          id: 'zk-app',
          kind: 'zookeeper-dubbo',
          mode: 'application',
          connect: servers.zookeeper.connectString,
          servicesRoot,
          namespace: 'dubbo-apps',
          coalesceMs: 10,
          mappingRoot: `${dubboRoot}/mapping`,
        },
        {
          id: 'zk-if',
          kind: 'zookeeper-dubbo',
          connect: servers.zookeeper.connectString,
          root: dubboRoot,
          coalesceMs: 10,
        },
      ],
    });
    apps = await DubboAppRegistrar.open(servers.zookeeper.connectString, servicesRoot, `${dubboRoot}/mapping`);
    ifaces = await DubboRegistrar.open(servers.zookeeper.connectString, dubboRoot);
    await mb.start('collector');
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
  });

  after(async () => {
    await tail?.close();
    apps?.close();
    ifaces?.close();
    await mb?.stop();
    await servers?.stop();
  });

  it('publishes each application with its instances, follows data and membership changes', async () => {
    const both = [
      { port: 20880, protocol: 'dubbo' },
      { port: 50051, protocol: 'tri' },
    ];
    const a1 = await apps.register('demo-provider', '10.4.0.1', 20880, {
      endpoints: both,
      interfaces: ['org.demo.GreetingService'],
    });
    await apps.register('demo-provider', '10.4.0.2', 20880, { endpoints: both });
    await ifaces.register('org.demo.LegacyService', '10.4.1.1', 20880);
    // The mapping lives under the interface source's root: it must not be mistaken for an interface with providers.
    const eps = await waitFor(
      () => {
        const e = tail.endpoints('zk-app');
        return e['dubbo-apps/demo-provider']?.length === 4 &&
          e['dubbo-apps/org.demo.greetingservice']?.length === 4 &&
          tail.endpoints('zk-if')['dubbo/org.demo.legacyservice']?.length === 1
          ? e
          : undefined;
      },
      { what: 'the application, its mapped interface and the interface-level service', timeoutMs: 30_000 },
    );
    const all4 = ['10.4.0.1:20880', '10.4.0.1:50051', '10.4.0.2:20880', '10.4.0.2:50051'];
    assert.deepEqual(eps, { 'dubbo-apps/demo-provider': all4, 'dubbo-apps/org.demo.greetingservice': all4 });
    assert.deepEqual(Object.keys(tail.endpoints('zk-if')), ['dubbo/org.demo.legacyservice']);
    const svc = tail.services('zk-app').get('dubbo-apps/demo-provider')!;
    assert.deepEqual(JSON.parse(JSON.stringify(svc.ports)), [
      { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
      { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
    ]);

    // Dubbo rewrites an instance's data when its metadata revision changes: a data watch picks it up.
    await apps.write(
      a1,
      DubboAppRegistrar.instanceJson('demo-provider', '10.4.0.1', 20880, { endpoints: both, revision: 'rev-2' }),
    );
    await waitFor(
      () =>
        tail
          .services('zk-app')
          .get('dubbo-apps/demo-provider')
          ?.instances.find((i) => i.address === '10.4.0.1')?.labels['dubbo.apache.org/revision'] === 'rev-2',
      { what: 'the new metadata revision', timeoutMs: 10_000 },
    );

    // Garbage instance data is reported and skipped; the application keeps its good instances.
    await apps.registerRaw('demo-provider', '10.4.0.99:20880', '{"address": 42');
    await apps.unregister(a1);
    await waitFor(
      () => tail.endpoints('zk-app')['dubbo-apps/demo-provider']?.join() === '10.4.0.2:20880,10.4.0.2:50051',
      { what: 'one instance left', timeoutMs: 10_000 },
    );
    // The mapped interface follows its application; a second application providing it joins it.
    await waitFor(
      () => tail.endpoints('zk-app')['dubbo-apps/org.demo.greetingservice']?.join() === '10.4.0.2:20880,10.4.0.2:50051',
      { what: 'interface follows the app', timeoutMs: 10_000 },
    );
    await apps.register('other-provider', '10.4.5.1', 20880, { interfaces: ['org.demo.GreetingService'] });
    await waitFor(
      () =>
        tail.endpoints('zk-app')['dubbo-apps/org.demo.greetingservice']?.join() ===
        '10.4.0.2:20880,10.4.0.2:50051,10.4.5.1:20880',
      { what: 'second application joins the interface', timeoutMs: 10_000 },
    );
    const last = [...tail.events]
      .reverse()
      .find(
        (e) => e.event.sourceId === 'zk-app' && e.event.kind === 'SERVICE_STATE' && e.event.host === 'demo-provider',
      )!.event;
    assert.deepEqual(
      last.issues.map((i) => i.field),
      ['instances[10.4.0.99:20880].data'],
    );
  });

  it('each source has its own leader and fencing epoch', async () => {
    const detail = (await getJson(`http://127.0.0.1:${mb.ports.collectorHttp}/readyz`)).body.detail;
    assert.equal(detail['zk-app'].leading, true);
    assert.equal(detail['zk-if'].leading, true);
    assert.notEqual(detail['zk-app'].epoch, null);
    const epochs = new Set(tail.events.filter((e) => e.event.sourceId === 'zk-app').map((e) => e.event.epoch));
    assert.deepEqual([...epochs], [detail['zk-app'].epoch]);
  });
});
