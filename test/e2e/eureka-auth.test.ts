import fs from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventTail } from '../../harness/event-tail.ts';
import { type EurekaCluster, startEureka } from '../../harness/eureka.ts';
import { makeRunDir } from '../../harness/paths.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { type Pipeline, pipeline, type Servers, startAllOrNone, startServers } from '../../harness/stack.ts';
import { waitFor } from '../../harness/wait.ts';

const USER = 'meshbridge';
const PASSWORD = 'p@ss:word';

/** A Eureka server that requires HTTP basic auth (Spring Security), read with the source's credentials. */
describe('a Eureka server behind basic auth', { timeout: 600_000 }, () => {
  let servers: Servers;
  let eureka: EurekaCluster;
  let good: Pipeline;
  let bad: Pipeline;
  let tail: EventTail | undefined;
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

  before(async () => {
    const runDir = makeRunDir('e2e-eureka-auth');
    [servers, eureka] = await startAllOrNone([
      startServers(runDir),
      startEureka(runDir, {
        name: 'eureka-auth',
        auth: { user: USER, password: PASSWORD },
      }),
    ] as const);
    const url = eureka.urls[0]!;
    const source = { id: 'eureka-auth', kind: 'eureka', serviceUrls: [url], refreshIntervalMs: 500 };
    good = await pipeline(servers, { sources: [{ ...source, username: USER, password: PASSWORD }] });
    bad = await pipeline(servers, { sources: [{ ...source, username: USER, password: 'wrong' }] });
  });

  after(async () => {
    await tail?.close();
    await good?.stop();
    await bad?.stop();
    await eureka?.stop();
    await servers?.stop();
  });

  it('reads the registry with the configured credentials; wrong ones are an error, not an empty registry', async () => {
    const url = eureka.urls[0]!;
    const anonymous = await fetch(`${url}/apps`, { headers: { accept: 'application/json' } });
    assert.equal(anonymous.status, 401, 'the server really requires auth');
    const body = {
      instance: {
        instanceId: 'billing-1',
        hostName: '10.8.0.1',
        app: 'BILLING',
        ipAddr: '10.8.0.1',
        status: 'UP',
        port: { $: 8080, '@enabled': 'true' },
        securePort: { $: 443, '@enabled': 'false' },
        vipAddress: 'billing',
        dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
        leaseInfo: { durationInSecs: 3600 },
      },
    };
    const res = await fetch(`${url}/apps/BILLING`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 204);

    await Promise.all([good.start('collector'), bad.start('collector')]);
    tail = await EventTail.open(servers.kafka.brokers, good.config.kafka.topic);
    await waitFor(() => tail!.services('eureka-auth').has('eureka/billing'), {
      what: 'billing published by the collector with credentials',
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${good.ports.collectorHttp}/readyz`)).status === 200, {
      what: 'collector with credentials ready',
      timeoutMs: 30_000,
    });

    // Wrong credentials: the source is not connected, counts errors, and publishes nothing (no empty registry).
    await waitFor(
      async () =>
        (await metricSum(bad.ports.collectorHttp, 'meshbridge_collector_errors_total', { source: 'eureka-auth' })) >= 1,
      { what: 'errors counted with wrong credentials', timeoutMs: 60_000 },
    );
    const hint = /HTTP 401 \(the server wants credentials: set the source's username and password/;
    await waitFor(() => hint.test(fs.readFileSync(bad.procs.collector!.logFile, 'utf8')), {
      what: 'the 401 and what to do about it in the collector log',
      timeoutMs: 30_000,
    });
    const badReady = await fetch(`http://127.0.0.1:${bad.ports.collectorHttp}/readyz`);
    assert.equal(badReady.status, 503);
    assert.match(JSON.stringify(await badReady.json()), /"connected":false/);
    const badTail = await EventTail.open(servers.kafka.brokers, bad.config.kafka.topic);
    try {
      assert.equal(badTail.events.length, 0);
    } finally {
      await badTail.close();
    }
  });
});
