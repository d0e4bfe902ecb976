import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { freePort } from '../../harness/ports.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../../harness/dubbo-registrar.ts';
import { encodeEventAs } from '../../schemas/event-codec.ts';
import { decodeResource, encodeResource } from '../../schemas/mcp-envelope.ts';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { redisKeys } from '../../snapshot-store/keys.ts';
import { toKubeList } from '../../services/audit/render-yaml.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';

/**
 * The audit tools against a live pipeline: real Kafka, Redis, ZooKeeper, the real projector and two real collector
 * processes (a failover), plus a scripted second registry whose collector is an older meshbridge (schema v1) that is
 * upgraded mid-history (schema v2). At quiet moments the test captures what the live pipeline held in Redis; at the
 * end `meshbridge replay` must rebuild exactly that from the topic alone, for every moment.
 */

const PARTITIONS = 3;
const PORT = { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' };
const inst = (address: string, labels: Record<string, string> = {}, metadata?: Record<string, string>) => ({
  address,
  ports: { 'tcp-dubbo': 20880 },
  labels: { app: 'legacy', 'meshbridge.io/source': 'legacy', ...labels },
  weight: 0,
  locality: '',
  ...(metadata ? { metadata } : {}),
});

interface Capture {
  label: string;
  timeMs: number;
  version: number;
  offsets: Map<number, bigint>;
  resources: Map<string, Buffer>;
}

describe('audit: replay, history, diff and verify against a live pipeline', () => {
  let servers: Servers;
  let mb: Pipeline;
  let kafka: Kafka;
  let producer: Producer;
  let redis: Redis;
  let dubbo: DubboRegistrar;
  const captures: Capture[] = [];
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionOf = (key: string) =>
    partitioner({
      topic: '',
      message: { key, value: null },
      partitionMetadata: Array.from({ length: PARTITIONS }, (_, i) => ({
        partitionId: i,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      })),
    });
  let seq = 0;

  /** An event of the scripted 'legacy' registry, whose collector is an older meshbridge. */
  const legacy = (over: Partial<RegistryEvent>): RegistryEvent => ({
    eventId: `legacy-${++seq}`,
    kind: 'SERVICE_STATE',
    sourceId: 'legacy',
    sourceKind: 'zookeeper-dubbo',
    collectorId: 'legacy-collector-a',
    epoch: 100,
    generation: 'legacy-gen-1',
    observedAt: Date.now(),
    namespace: 'dubbo',
    host: '',
    registryService: '',
    orderToken: null,
    ports: [PORT],
    instances: [],
    issues: [],
    resyncServices: [],
    raw: null,
    ...over,
  });

  async function send(
    events: RegistryEvent[],
    schema: 'registry-event.v1.avsc' | 'registry-event.v2.avsc',
  ): Promise<void> {
    for (const e of events) {
      const key = e.kind === 'RESYNC_END' ? `resync/${e.sourceId}` : `${e.namespace}/${e.host}`;
      const partitions = e.kind === 'RESYNC_END' ? [...Array(PARTITIONS).keys()] : [partitionOf(key)];
      for (const partition of partitions) {
        const value = encodeEventAs(
          schema,
          e.kind === 'RESYNC_END'
            ? { ...e, resyncServices: e.resyncServices.filter((k) => partitionOf(k) === partition) }
            : e,
        );
        await producer.send({ topic: mb.config.kafka.topic, acks: -1, messages: [{ key, partition, value }] });
      }
    }
  }

  const keys = () => redisKeys(mb.config.redis.prefix);
  /** Keeps a command's human-readable output in the run directory (docs/audit.md quotes these). */
  const keep = (name: string, text: string) => fs.writeFileSync(path.join(servers.runDir, `audit-${name}.txt`), text);

  /** What Redis holds, read atomically (resources, version, stored offsets). */
  async function live(): Promise<Omit<Capture, 'label' | 'timeMs'>> {
    const k = keys();
    const m = redis.multi().get(k.version).hgetallBuffer(k.resources);
    for (let p = 0; p < PARTITIONS; p++) m.hget(k.partitionMeta(p), 'offset');
    const res = (await m.exec())!.map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const resources = new Map(Object.entries(res[1] as Record<string, Buffer>).sort(([a], [b]) => (a < b ? -1 : 1)));
    const offsets = new Map(res.slice(2).map((o, p) => [p, BigInt((o as string | null) ?? '0')]));
    return { version: Number(res[0] ?? 0), resources, offsets };
  }

  /** Waits until the projector has consumed every partition to its end, then records what Redis holds. */
  async function capture(label: string, expect: (resources: Map<string, Buffer>) => boolean): Promise<Capture> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      // The moment is taken before the topic's ends are read, and the ends read again a little later: an event
      // stamped at or before the moment but appended after the first read (seen once: one per partition, a replay
      // by time one event past the live cut) shows as moved ends, and the capture is taken again.
      const ends = () => admin.fetchTopicOffsets(mb.config.kafka.topic);
      const { timeMs, ...snap } = await waitFor(
        async () => {
          mb.procs.projector!.assertRunning();
          const s = await live();
          if (!expect(s.resources)) return undefined;
          const moment = Date.now() - 1;
          const first = await ends();
          if (!first.every((e) => s.offsets.get(e.partition) === BigInt(e.high))) return undefined;
          await new Promise((r) => setTimeout(r, 200));
          return JSON.stringify(await ends()) === JSON.stringify(first) ? { ...s, timeMs: moment } : undefined;
        },
        { what: `projector caught up with the expected state at ${label}`, timeoutMs: 60_000, intervalMs: 100 },
      );
      const c = { label, timeMs, ...snap };
      captures.push(c);
      // Every later event is produced after this moment: a replay "until" it must exclude them all.
      await waitFor(() => Date.now() > c.timeMs + 1, {
        what: 'the clock to pass the capture',
        timeoutMs: 1000,
        intervalMs: 1,
      });
      return c;
    } finally {
      await admin.disconnect();
    }
  }

  const se = (resources: Map<string, Buffer>, host: string) => {
    const b = resources.get(`ServiceEntry|dubbo/${host}`);
    return b
      ? (decodeResource(b).body as { endpoints?: { address: string; labels?: Record<string, string> }[] })
      : undefined;
  };
  const addrs = (resources: Map<string, Buffer>, host: string) =>
    (se(resources, host)?.endpoints ?? [])
      .map((e) => e.address)
      .sort()
      .join(',');

  before(async () => {
    servers = await startServers(makeRunDir('e2e-audit'));
    mb = await pipeline(servers, { kafka: { partitions: PARTITIONS } });
    kafka = new Kafka({ clientId: 'audit-test', brokers: servers.kafka.brokers, logLevel: logLevel.NOTHING });
    redis = new Redis(servers.redis.url);
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    await mb.start('projector'); // creates the topics
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
  });

  after(async () => {
    await producer?.disconnect();
    redis?.disconnect();
    dubbo?.close();
    await mb?.stop();
    await servers?.stop();
  });

  it('replays the scenario to each captured moment, names the version, explains the history, and verify catches tampering', async () => {
    // A — an old meshbridge (schema v1) publishes the legacy registry's first full resync.
    await send(
      [
        legacy({
          host: 'com.legacy.inventory',
          registryService: 'com.legacy.Inventory',
          orderToken: 10,
          instances: [inst('10.9.0.1'), inst('10.9.0.2'), inst('10.9.0.3')],
        }),
        legacy({
          host: 'com.legacy.billing',
          registryService: 'com.legacy.Billing',
          orderToken: 11,
          instances: [inst('10.9.1.1', { version: '1.0' }), inst('10.9.1.2', { version: '1.0' })],
        }),
        legacy({
          host: 'org.example.shared',
          registryService: 'org.example.Shared',
          orderToken: 12,
          instances: [inst('10.9.2.1')],
        }),
        legacy({
          kind: 'RESYNC_END',
          host: '',
          resyncServices: ['dubbo/com.legacy.inventory', 'dubbo/com.legacy.billing', 'dubbo/org.example.shared'],
        }),
      ],
      'registry-event.v1.avsc',
    );
    const A = await capture('A', (r) => r.size === 3);

    // B — still v1: an update, a deregistration, a late event with an older order token, an event istiod would reject.
    await send(
      [
        legacy({
          host: 'com.legacy.billing',
          registryService: 'com.legacy.Billing',
          orderToken: 13,
          instances: [
            inst('10.9.1.1', { version: '1.1' }),
            inst('10.9.1.2', { version: '1.0' }),
            inst('10.9.1.3', { version: '1.1' }),
          ],
        }),
        legacy({
          kind: 'SERVICE_REMOVED',
          host: 'com.legacy.inventory',
          registryService: 'com.legacy.Inventory',
          orderToken: 14,
        }),
        legacy({
          host: 'com.legacy.billing',
          registryService: 'com.legacy.Billing',
          orderToken: 12,
          instances: [inst('10.9.1.9')],
        }),
        legacy({
          host: 'com.legacy.broken',
          registryService: 'com.legacy.Broken',
          orderToken: 15,
          ports: [{ name: 'dubbo', number: 20880, protocol: 'DUBBO' }],
          instances: [{ ...inst('10.9.3.1'), ports: { dubbo: 20880 } }],
        }),
      ],
      'registry-event.v1.avsc',
    );
    const B = await capture(
      'B',
      (r) =>
        addrs(r, 'com.legacy.billing') === '10.9.1.1,10.9.1.2,10.9.1.3' &&
        !r.has('ServiceEntry|dubbo/com.legacy.inventory'),
    );

    // C — schema change mid-history: the legacy collector is upgraded (v2 bytes, collectorVersion, instance metadata,
    // a new epoch); the real collector for ZooKeeper starts and publishes what Dubbo providers registered.
    await send(
      [
        legacy({
          host: 'com.legacy.billing',
          registryService: 'com.legacy.Billing',
          orderToken: 16,
          epoch: 200,
          collectorId: 'legacy-collector-b',
          collectorVersion: '0.2.0',
          instances: [
            inst('10.9.1.1', { version: '1.1' }, { pid: '811' }),
            inst('10.9.1.3', { version: '1.1' }, { pid: '812' }),
          ],
        }),
      ],
      'registry-event.v2.avsc',
    );
    await dubbo.register('org.example.Shared', '10.1.0.1', 20880, { version: '2.0.0' });
    const greeter2 = await dubbo.register('org.example.Greeter', '10.1.0.2', 20880, { version: '1.0.0' });
    await dubbo.register('org.example.Greeter', '10.1.0.3', 20880, { version: '1.0.0' });
    const first = await mb.start('collector', { name: 'collector-a' });
    const C = await capture(
      'C',
      (r) =>
        addrs(r, 'org.example.greeter') === '10.1.0.2,10.1.0.3' &&
        addrs(r, 'org.example.shared') === '10.1.0.1,10.9.2.1' &&
        addrs(r, 'com.legacy.billing') === '10.9.1.1,10.9.1.3',
    );

    // D — collector failover: a standby replica takes over (a newer epoch) when the leader dies; then the dead
    // leader's late event arrives, and a provider deregisters.
    const lease = (await redis.get(`{${mb.config.redis.prefix}}:collector:lease:zk1`))!;
    const [oldId, oldEpoch] = lease.split('|') as [string, string];
    const standbyPort = await freePort();
    await mb.start('collector', { name: 'collector-b', env: { MESHBRIDGE_COLLECTOR_HTTP_PORT: String(standbyPort) } });
    await first.kill();
    await waitFor(
      async () => {
        const l = await redis.get(`{${mb.config.redis.prefix}}:collector:lease:zk1`);
        return l !== null && !l.startsWith(`${oldId}|`) ? l : undefined;
      },
      { what: 'the standby collector to take the lease', timeoutMs: 30_000 },
    );
    // The new leader's resync markers reach every partition (its epoch is known everywhere) before the late event.
    const partitionEpochs = async () =>
      Promise.all([...Array(PARTITIONS).keys()].map((p) => redis.hget(keys().partitionMeta(p), 'epoch:zk1')));
    await waitFor(async () => (await partitionEpochs()).every((e) => e !== null && Number(e) > Number(oldEpoch)), {
      what: 'the new epoch on every partition',
      timeoutMs: 30_000,
    });
    const greeterKey = 'dubbo/org.example.greeter';
    const late: RegistryEvent = {
      eventId: 'late-from-dead-leader',
      kind: 'SERVICE_STATE',
      sourceId: 'zk1',
      sourceKind: 'zookeeper-dubbo',
      collectorId: oldId,
      epoch: Number(oldEpoch),
      generation: 'stale',
      observedAt: Date.now(),
      namespace: 'dubbo',
      host: 'org.example.greeter',
      registryService: 'org.example.Greeter',
      orderToken: null,
      ports: [PORT],
      instances: [
        {
          address: '10.1.0.66',
          ports: { 'tcp-dubbo': 20880 },
          labels: { 'meshbridge.io/source': 'zk1' },
          weight: 0,
          locality: '',
        },
      ],
      issues: [],
      resyncServices: [],
      raw: null,
    };
    await producer.send({
      topic: mb.config.kafka.topic,
      acks: -1,
      messages: [
        { key: greeterKey, partition: partitionOf(greeterKey), value: encodeEventAs('registry-event.v2.avsc', late) },
      ],
    });
    await dubbo.unregister(greeter2);
    const D = await capture('D', (r) => addrs(r, 'org.example.greeter') === '10.1.0.3');

    assert.ok(
      A.version < B.version && B.version < C.version && C.version < D.version,
      `versions advance: ${captures.map((c) => c.version)}`,
    );

    // Replay to each moment — by time, and by the offsets stored with it — from the topic alone.
    for (const c of captures) {
      for (const until of [new Date(c.timeMs).toISOString(), [...c.offsets].map(([p, o]) => `${p}:${o}`).join(',')]) {
        const r = await meshbridge(mb.configFile, ['replay', '--until', until, '--json']);
        assert.equal(r.code, 0, `replay --until ${until} (${c.label}) failed: ${r.stderr}`);
        const out = JSON.parse(r.stdout);
        assert.deepEqual(
          out.items,
          toKubeList(c.resources).items,
          `replay to ${c.label} (${until}) equals what the live pipeline held`,
        );
        assert.deepEqual(
          out.offsets,
          Object.fromEntries([...c.offsets].map(([p, o]) => [String(p), o.toString()])),
          `cut offsets at ${c.label}`,
        );
        assert.equal(out.version, c.version, `snapshot version of ${c.label}: ${out.versionNote}`);
      }
    }
    const yaml = await meshbridge(mb.configFile, ['replay', '--until', new Date(B.timeMs).toISOString()]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^# meshbridge replay of topic/);
    assert.match(yaml.stdout, new RegExp(`snapshot version: ${B.version}\\b`));
    assert.match(yaml.stdout, /kind: ServiceEntry/);
    assert.match(yaml.stdout, /writer schemas: v1 \d+\)/);
    keep('replay-B', `$ meshbridge replay --until ${new Date(B.timeMs).toISOString()}\n${yaml.stdout}`);

    // History: old and new schema, the older token, the invalid event, the stale epoch of the dead leader.
    const billing = JSON.parse((await meshbridge(mb.configFile, ['history', 'com.legacy.Billing', '--json'])).stdout);
    keep(
      'history-billing',
      `$ meshbridge history com.legacy.Billing\n${(await meshbridge(mb.configFile, ['history', 'com.legacy.Billing'])).stdout}`,
    );
    assert.deepEqual(
      billing.records.map((r: { outcome: string; reason?: string }) => r.reason ?? r.outcome),
      ['applied', 'applied', 'older-order-token', 'applied'],
    );
    assert.deepEqual(
      billing.records.map((r: { schema: string }) => r.schema),
      ['v1', 'v1', 'v1', 'v2'],
    );
    assert.equal(billing.records[3].collectorVersion, '0.2.0');
    assert.deepEqual(
      billing.records[1].change.added.map((e: { address: string }) => e.address),
      ['10.9.1.3'],
    );
    assert.deepEqual(billing.records[1].change.changed, [
      { endpoint: '10.9.1.1 tcp-dubbo=20880', changes: { 'label version': ['1.0', '1.1'] } },
    ]);
    const broken = JSON.parse((await meshbridge(mb.configFile, ['history', 'com.legacy.broken', '--json'])).stdout);
    assert.equal(broken.records[0].reason, 'invalid');
    assert.match(broken.records[0].problems.join('\n'), /protocol "DUBBO"/);
    const greeter = await meshbridge(mb.configFile, ['history', 'org.example.greeter']);
    assert.equal(greeter.code, 0, greeter.stderr);
    assert.match(greeter.stdout, new RegExp(`IGNORED \\(stale-epoch\\): epoch ${oldEpoch} < \\d+`));
    assert.match(greeter.stdout, /- endpoint 10\.1\.0\.2 tcp-dubbo=20880/);
    keep('history-greeter', `$ meshbridge history org.example.greeter\n${greeter.stdout}`);
    const inventory = await meshbridge(mb.configFile, ['history', 'dubbo/com.legacy.inventory']);
    assert.match(inventory.stdout, /SERVICE_REMOVED[\s\S]*ServiceEntry removed/);

    // Diff between two moments, by version and by time.
    const diff = JSON.parse(
      (await meshbridge(mb.configFile, ['diff', `v${A.version}`, new Date(D.timeMs).toISOString(), '--json'])).stdout,
    );
    const diffText = await meshbridge(mb.configFile, ['diff', `v${A.version}`, new Date(D.timeMs).toISOString()]);
    assert.equal(diffText.code, 0, diffText.stderr);
    keep('diff', `$ meshbridge diff v${A.version} ${new Date(D.timeMs).toISOString()}\n${diffText.stdout}`);
    const kinds = Object.fromEntries(diff.changes.map((c: { resource: string; kind: string }) => [c.resource, c.kind]));
    assert.deepEqual(kinds, {
      'ServiceEntry|dubbo/com.legacy.billing': 'changed',
      'ServiceEntry|dubbo/com.legacy.inventory': 'removed',
      'ServiceEntry|dubbo/org.example.greeter': 'created',
      'ServiceEntry|dubbo/org.example.shared': 'changed',
    });

    // verify: healthy, then tampered.
    const ok = await meshbridge(mb.configFile, ['verify']);
    assert.equal(ok.code, 0, `verify on a healthy system: ${ok.stdout}${ok.stderr}`);
    assert.match(ok.stdout, /OK: the live snapshot equals the replay/);
    keep('verify-ok', `$ meshbridge verify; echo "exit $?"\n${ok.stdout}exit ${ok.code}\n`);
    const field = 'ServiceEntry|dubbo/org.example.greeter';
    const orig = decodeResource((await redis.hgetBuffer(keys().resources, field))!);
    const body = orig.body as { endpoints: { labels: Record<string, string> }[] };
    body.endpoints[0]!.labels.version = '6.6.6';
    await redis.hset(
      keys().resources,
      field,
      encodeResource(
        'ServiceEntry',
        { name: orig.name, createTimeMs: orig.createTimeMs, labels: orig.labels, annotations: orig.annotations },
        body,
      ).any,
    );
    const bad = await meshbridge(mb.configFile, ['verify']);
    assert.equal(bad.code, 1, `verify after tampering: ${bad.stdout}${bad.stderr}`);
    assert.match(bad.stdout, /MISMATCH: 1 of \d+ resources differ; first difference: dubbo\/org\.example\.greeter/);
    assert.match(bad.stdout, /label version 1\.0\.0 -> 6\.6\.6/);
    keep('verify-tampered', `$ meshbridge verify; echo "exit $?"\n${bad.stdout}exit ${bad.code}\n`);
    await redis.hdel(keys().resources, 'ServiceEntry|dubbo/com.legacy.billing');
    const bad2 = JSON.parse((await meshbridge(mb.configFile, ['verify', '--json'])).stdout);
    assert.equal(bad2.equal, false);
    assert.deepEqual(bad2.differing, ['ServiceEntry|dubbo/com.legacy.billing', field]);
    assert.equal(bad2.first.what, 'missing-in-redis');
  });
});
