import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { EventTail } from '../../harness/event-tail.ts';
import { metricSum } from '../../harness/prom-text.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';

const MIXED = 'com.bad.Mixed';
const OTHER = 'com.bad.Other';
const enc = encodeURIComponent;

describe('bad registry data in ZooKeeper: reported by source, service and field; nothing else affected', () => {
  let servers: Servers;
  let mb: Pipeline;
  let dubbo: DubboRegistrar;
  let tail: EventTail;

  before(async () => {
    servers = await startServers(makeRunDir('e2e-collector-bad-input'));
    mb = await pipeline(servers, {});
    mb.config.sources[0].resyncIntervalMs = 1000;
    fs.writeFileSync(mb.configFile, JSON.stringify(mb.config));
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    await mb.start('collector');
    tail = await EventTail.open(servers.kafka.brokers, mb.config.kafka.topic);
  });

  after(async () => {
    await tail?.close();
    dubbo?.close();
    await mb?.stop();
    await servers?.stop();
  });

  it('keeps every valid provider and reports each bad one', async () => {
    await dubbo.register(OTHER, '10.8.1.1', 20880);
    await waitFor(() => tail.endpoints('zk1')['dubbo/com.bad.other']?.length === 1, {
      what: 'the healthy service',
      timeoutMs: 30_000,
    });
    const rejectedBefore = await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_rejected_data_total', {
      source: 'zk1',
    });

    await dubbo.register(MIXED, '10.8.0.1', 20880);
    await dubbo.registerRaw(MIXED, '%zz-not-url-encoding');
    await dubbo.registerRaw(MIXED, enc(`dubbo://provider.example.com:20880/${MIXED}?side=provider`));
    await dubbo.registerRaw(MIXED, enc(`dubbo://10.8.0.2:0/${MIXED}?side=provider`));
    await dubbo.registerRaw(MIXED, enc(`dubbo://10.8.0.3:70000/${MIXED}?side=provider`));
    await dubbo.registerRaw(MIXED, enc(`dubbo://10.8.0.4:abc/${MIXED}?side=provider`));
    await dubbo.registerRaw(MIXED, '!!garbage ÿþ with no scheme at all');
    await dubbo.registerRaw(MIXED, enc(`dubbo://10.8.0.6:20880/${MIXED}?side=consumer`));
    // Valid address, but labels istio would reject and 100 KB of metadata.
    await dubbo.register(MIXED, '10.8.0.5', 20880, {
      version: '1.0 beta!',
      application: '-demo_',
      methods: 'm'.repeat(100_000),
    });

    const eps = await waitFor(
      () => {
        const e = tail.endpoints('zk1');
        return e['dubbo/com.bad.mixed']?.length === 2 ? e : undefined;
      },
      { what: 'the valid providers of the mixed service', timeoutMs: 15_000 },
    );
    assert.deepEqual(eps['dubbo/com.bad.mixed'], ['10.8.0.1:20880', '10.8.0.5:20880']);
    assert.deepEqual(eps['dubbo/com.bad.other'], ['10.8.1.1:20880'], 'the other service is untouched');
    const mixed = tail.services('zk1').get('dubbo/com.bad.mixed')!;
    const five = mixed.instances.find((i) => i.address === '10.8.0.5')!;
    assert.equal(five.labels.version, '1.0-beta');
    assert.equal(five.labels.app, 'demo');

    // Each problem: a log line naming source, service and field; the event carries them; a metric counts them.
    const last = [...tail.events]
      .reverse()
      .find((e) => e.event.host === 'com.bad.mixed' && e.event.kind === 'SERVICE_STATE')!.event;
    assert.ok(last.raw!.length < 70_000, `raw audit data is bounded (${last.raw!.length} chars)`);
    const fields = last.issues.map((i) => i.field).sort();
    assert.deepEqual(fields, [
      'providers.host',
      'providers.port',
      'providers.port',
      'providers.port',
      'providers.url',
      'providers.url',
      'providers[10.8.0.5:20880].labels[app]',
      'providers[10.8.0.5:20880].labels[version]',
    ]);
    const logs = fs
      .readFileSync(mb.procs.collector!.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('registry data not usable as-is'))
      .map((l) => JSON.parse(l));
    for (const f of [
      'providers.host',
      'providers.port',
      'providers.url',
      'providers[10.8.0.5:20880].labels[version]',
    ]) {
      const line = logs.find((l) => l.field === f);
      assert.ok(line, `a log line for ${f}`);
      assert.equal(line.source, 'zk1');
      assert.equal(line.service, MIXED);
      assert.ok(line.reason && line.value !== undefined);
    }
    assert.ok(logs.find((l) => l.field === 'providers.port' && /70000 is outside 1\.\.65535/.test(l.reason)));
    await waitFor(
      async () =>
        (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_rejected_data_total', { source: 'zk1' })) >=
        rejectedBefore + 8,
      { what: 'the rejected-data metric', timeoutMs: 5000 },
    );
    assert.equal(mb.procs.collector!.running, true, 'nothing crashed');
  });

  it('each problem is logged and counted once, not on every re-read; metric labels never carry an address or name', async () => {
    const resyncs = async () =>
      metricSum(mb.ports.collectorHttp, 'meshbridge_collector_resyncs_total', { source: 'zk1' });
    const problemLines = () =>
      fs
        .readFileSync(mb.procs.collector!.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('registry data not usable as-is')).length;
    const counted = () =>
      metricSum(mb.ports.collectorHttp, 'meshbridge_collector_rejected_data_total', { source: 'zk1' });
    const lines = problemLines();
    const count = await counted();
    assert.equal(lines, 8, 'one log line per distinct problem');
    const before = await resyncs();
    // resyncIntervalMs is 1 s in this suite: three full re-reads of the same bad data.
    await waitFor(async () => (await resyncs()) >= before + 3, { what: 'three more full re-reads', timeoutMs: 20_000 });
    assert.equal(problemLines(), lines, 'no new log lines for the same problems');
    assert.equal(await counted(), count, 'the counter counts problems that appeared, not re-reads');
    const text = await (await fetch(`http://127.0.0.1:${mb.ports.collectorHttp}/metrics`)).text();
    const series = text
      .split('\n')
      .filter((l) => /^meshbridge_collector_(rejected_data_total|data_problems)\{/.test(l));
    assert.ok(
      series.length > 0 && series.length <= 12,
      `a few bounded series, got ${series.length}:\n${series.join('\n')}`,
    );
    for (const s of series)
      assert.doesNotMatch(
        s.replace(/\}.*$/, ''),
        /\d+\.\d+\.\d+|com\.bad|\[/,
        `no address, name or identifier in ${s}`,
      );
    assert.ok(
      series.some((s) => s.includes('field="providers.labels"') && s.includes('reason="label-value"')),
      series.join('\n'),
    );
    const debug = (await (await fetch(`http://127.0.0.1:${mb.ports.collectorHttp}/debug/problems`)).json()) as {
      zk1: { problems: { service?: string; subject: string; field: string }[] };
    };
    assert.equal(debug.zk1.problems.length, 8);
    assert.ok(debug.zk1.problems.every((p) => p.subject === `service ${MIXED}`));
    // Fixed data: the problems are reported gone, once.
    for (const p of await dubbo.providers(MIXED)) if (!p.includes('10.8.0.1')) await dubbo.unregister(p);
    await waitFor(
      async () =>
        (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_data_problems', { source: 'zk1' })) === 0,
      { what: 'no current problems', timeoutMs: 15_000 },
    );
    const gone = () =>
      fs
        .readFileSync(mb.procs.collector!.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('registry data problem gone')).length;
    // The gauge is set before the log line reaches the file (the logger writes asynchronously): wait for the lines,
    // then for two more re-reads, which must not log the same problems gone again.
    await waitFor(() => gone() >= 8, { what: `8 "problem gone" log lines (have ${gone()})`, timeoutMs: 10_000 });
    const after = await resyncs();
    await waitFor(async () => (await resyncs()) >= after + 2, { what: 'two more full re-reads', timeoutMs: 20_000 });
    assert.equal(gone(), 8, 'one "problem gone" line per problem');
  });

  it('a registry that disappears and comes back: no crash, watching resumes', async () => {
    await servers.zookeeper.proc.stop();
    await waitFor(
      async () =>
        (await metricSum(mb.ports.collectorHttp, 'meshbridge_collector_registry_connected', { source: 'zk1' })) === 0,
      { what: 'collector noticing ZooKeeper is gone', timeoutMs: 15_000 },
    );
    const { startZooKeeper } = await import('../../harness/zookeeper.ts');
    servers.zookeeper = await startZooKeeper(servers.runDir, { port: servers.zookeeper.port });
    dubbo.close();
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    await dubbo.register(OTHER, '10.8.1.2', 20880);
    await waitFor(() => tail.endpoints('zk1')['dubbo/com.bad.other']?.includes('10.8.1.2:20880'), {
      what: 'a change after ZooKeeper came back',
      timeoutMs: 30_000,
    });
    assert.equal(mb.procs.collector!.running, true);
  });
});
