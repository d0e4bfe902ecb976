import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, type Servers, type Pipeline } from '../../harness/stack.ts';
import { startConsul, type ConsulServer } from '../../harness/consul.ts';
import { ConsulRegistrar, type ConsulInstance } from '../../harness/consul-registrar.ts';
import { freePort } from '../../harness/ports.ts';
import { waitFor } from '../../harness/wait.ts';
import { meshbridge, type Run } from '../support/meshbridge-cli.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { encodeEvent } from '../../schemas/event-codec.ts';
import { decodeResource, encodeResource } from '../../schemas/mcp-envelope.ts';
import { redisKeys } from '../../snapshot-store/keys.ts';

/**
 * `meshbridge verify --registry` against real ZooKeeper (Dubbo providers) and a real Consul agent, the real collector
 * and projector, and the real executable: equal after start-up; changes made just before it runs, or reaching the
 * snapshot only after its first round, are not reported; a live service deleted from Redis, or removed by a wrong
 * event in the log (which `verify` against the log cannot see), is reported missing with exit 1; an unreachable
 * registry is exit 3.
 */

const PARTITIONS = 3;

describe('verify --registry: the registries against the live snapshot', () => {
  let servers: Servers;
  let consul: ConsulServer;
  let mb: Pipeline;
  let redis: Redis;
  let dubbo: DubboRegistrar;
  let reg: ConsulRegistrar;
  let producer: Producer | undefined;
  const web1: ConsulInstance = {
    service: 'web',
    id: 'web-1',
    address: '10.7.0.1',
    port: 8080,
    meta: { protocol: 'http', version: 'v1' },
  };
  const web2: ConsulInstance = {
    service: 'web',
    id: 'web-2',
    address: '10.7.0.2',
    port: 8080,
    meta: { protocol: 'http', version: 'v2' },
  };
  const keys = () => redisKeys(mb.config.redis.prefix);
  const verify = (args: string[] = [], onStderr?: (all: string) => void) =>
    meshbridge(mb.configFile, ['verify', '--registry', ...args], onStderr);
  /** Keeps a command's output in the run directory (docs/audit.md quotes it). */
  const keep = (name: string, r: Run) =>
    fs.writeFileSync(
      path.join(servers.runDir, `verify-registry-${name}.txt`),
      `${r.stdout}${r.stderr ? `--- stderr\n${r.stderr}` : ''}exit ${r.code}\n`,
    );
  const explain = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

  /** What the live snapshot serves: mesh host -> sorted endpoint addresses. */
  async function mesh(): Promise<Record<string, string[]>> {
    const all = await redis.hgetallBuffer(keys().resources);
    return Object.fromEntries(
      Object.values(all).map((b) => {
        const r = decodeResource(b);
        return [r.name, ((r.body.endpoints ?? []) as { address: string }[]).map((e) => e.address).sort()];
      }),
    );
  }

  /** Waits until the snapshot serves exactly these endpoints for these hosts (others may exist). */
  async function meshHas(expected: Record<string, string[]>, what: string): Promise<void> {
    await waitFor(
      async () => {
        mb.procs.projector!.assertRunning();
        const m = await mesh();
        return Object.entries(expected).every(([h, eps]) => (m[h] ?? []).join() === eps.join());
      },
      { what, timeoutMs: 60_000 },
    );
  }

  before(async () => {
    const runDir = makeRunDir('e2e-verify-registry');
    [servers, consul] = await Promise.all([startServers(runDir), startConsul(runDir)]);
    reg = new ConsulRegistrar(consul.address);
    await Promise.all([web1, web2].map((i) => reg.register(i)));
    mb = await pipeline(servers, {
      kafka: { partitions: PARTITIONS },
      sources: [
        {
          id: 'zk1',
          kind: 'zookeeper-dubbo',
          connect: servers.zookeeper.connectString,
          root: `/dubbo-verify-${process.pid}`,
          sessionTimeoutMs: 4000,
        },
        { id: 'c1', kind: 'consul', address: consul.address, coalesceMs: 10, blockWaitSeconds: 5 },
      ],
    });
    redis = new Redis(servers.redis.url);
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    await dubbo.register('com.verify.Orders', '10.6.0.1', 20880, { version: '1.0.0' });
    await dubbo.register('com.verify.Orders', '10.6.0.2', 20880, { version: '1.0.0' });
    await dubbo.register('com.verify.Payments', '10.6.1.1', 20880);
    await dubbo.register('com.verify.Users', '10.6.2.1', 20880);
    await mb.start('projector'); // creates the topics
    await mb.start('collector');
    await meshHas(
      {
        'dubbo/com.verify.orders': ['10.6.0.1', '10.6.0.2'],
        'dubbo/com.verify.payments': ['10.6.1.1'],
        'dubbo/com.verify.users': ['10.6.2.1'],
        'consul/web': ['10.7.0.1', '10.7.0.2'],
      },
      'the registered services in the snapshot',
    );
    await waitFor(async () => (await redis.get(keys().complete)) === '1', {
      what: "both sources' first resync applied",
      timeoutMs: 30_000,
    });
  });

  after(async () => {
    mb?.procs.projector?.signal('SIGCONT');
    await producer?.disconnect();
    redis?.disconnect();
    dubbo?.close();
    await mb?.stop();
    await consul?.stop();
    await servers?.stop();
  });

  it('exit 0 when the mesh holds what every registry holds (text and --json)', async () => {
    const text = await verify();
    keep('equal', text);
    assert.equal(text.code, 0, explain(text));
    assert.match(
      text.stdout,
      /^registry zk1 \(zookeeper-dubbo\): 3 registry services -> 3 mesh hosts, 4 endpoints; the mesh holds 3 hosts, 4 endpoints from zk1$/m,
    );
    assert.match(
      text.stdout,
      /^registry c1 \(consul\): 1 registry service -> 1 mesh host, 2 endpoints; the mesh holds 1 host, 2 endpoints from c1$/m,
    );
    assert.match(
      text.stdout,
      /^OK: the mesh holds what the registries hold \(2 sources, 4 mesh hosts, 6 endpoints; 1 round, /m,
    );
    const json = await verify(['--json']);
    assert.equal(json.code, 0, explain(json));
    const out = JSON.parse(json.stdout);
    assert.equal(out.equal, true);
    assert.equal(out.rounds, 1);
    assert.deepEqual(out.differences, []);
    assert.deepEqual(
      out.sources.map((s: { id: string; registryHosts: number; meshHosts: number }) => [
        s.id,
        s.registryHosts,
        s.meshHosts,
      ]),
      [
        ['zk1', 3, 3],
        ['c1', 1, 1],
      ],
    );
  });

  it('changes made just before verify runs are not a mismatch', async () => {
    await dubbo.register('com.verify.Payments', '10.6.1.2', 20880);
    await dubbo.register('com.verify.Fresh', '10.6.3.1', 20880);
    await reg.register({
      service: 'web',
      id: 'web-3',
      address: '10.7.0.3',
      port: 8080,
      meta: { protocol: 'http', version: 'v3' },
    });
    const r = await verify(['--json']);
    assert.equal(r.code, 0, explain(r));
    assert.equal(JSON.parse(r.stdout).equal, true);
  });

  it('a change that reaches the snapshot only after the first round is settled, not reported', async () => {
    // The projector is paused: the collector publishes the new provider, the snapshot cannot show it yet.
    mb.procs.projector!.signal('SIGSTOP');
    let resumed = false;
    const resume = () => {
      if (!resumed) {
        resumed = true;
        mb.procs.projector!.signal('SIGCONT');
      }
    };
    try {
      await dubbo.register('com.verify.Late', '10.6.4.1', 20880);
      const r = await verify(['--json'], (stderr) => {
        if (/round 1 of 3: .*dubbo\/com\.verify\.late/.test(stderr)) resume();
      });
      keep('settled', r);
      assert.ok(resumed, `verify saw the change in flight in its first round:\n${explain(r)}`);
      assert.equal(r.code, 0, explain(r));
      const out = JSON.parse(r.stdout);
      assert.equal(out.equal, true);
      assert.ok(out.rounds >= 2, `re-checked after the settle (rounds ${out.rounds})`);
      assert.ok(out.settled.includes('zk1|dubbo/com.verify.late'), JSON.stringify(out.settled));
    } finally {
      resume();
    }
  });

  it('a live service removed by a wrong event in the log: verify against the log says equal, verify --registry says missing', async () => {
    // What the resync race of issue 10 did: a removal of a registered service, written by the source's own leader.
    const hostKey = 'dubbo/com.verify.orders';
    const partition = Partitioners.DefaultPartitioner()({
      topic: '',
      message: { key: hostKey, value: null },
      partitionMetadata: Array.from({ length: PARTITIONS }, (_, i) => ({
        partitionId: i,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      })),
    });
    const epoch = Number(await redis.hget(keys().partitionMeta(partition), 'epoch:zk1'));
    const kafka = new Kafka({
      clientId: 'verify-registry-test',
      brokers: servers.kafka.brokers,
      logLevel: logLevel.NOTHING,
    });
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    await producer.send({
      topic: mb.config.kafka.topic,
      acks: -1,
      messages: [
        {
          key: hostKey,
          partition,
          value: encodeEvent({
            eventId: 'wrong-removal',
            kind: 'SERVICE_REMOVED',
            sourceId: 'zk1',
            sourceKind: 'zookeeper-dubbo',
            collectorId: 'test',
            epoch,
            generation: 'g',
            observedAt: Date.now(),
            namespace: 'dubbo',
            host: 'com.verify.orders',
            registryService: 'com.verify.Orders',
            orderToken: null,
            ports: [],
            instances: [],
            issues: [],
            resyncServices: [],
            raw: null,
          }),
        },
      ],
    });
    await waitFor(async () => !(hostKey in (await mesh())), { what: 'the wrong removal applied', timeoutMs: 30_000 });

    const log = await meshbridge(mb.configFile, ['verify']);
    keep('log-verify-after-wrong-removal', log);
    assert.equal(log.code, 0, `the log replay agrees with the snapshot: ${explain(log)}`);
    const r = await verify();
    keep('wrong-removal', r);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /^MISMATCH: 1 mesh host differs from the registry in every round \(3 rounds 2 s apart, /m);
    assert.match(
      r.stdout,
      /^ {2}- dubbo\/com\.verify\.orders \(source zk1, registry service com\.verify\.Orders\): MISSING in the mesh/m,
    );
    assert.match(r.stdout, /- endpoint 10\.6\.0\.1 tcp-dubbo=20880 .*\(registered\)/);

    // Heal it the way the registry would: a change to the service republishes its whole state.
    await dubbo.register('com.verify.Orders', '10.6.0.3', 20880, { version: '1.0.0' });
    await meshHas({ [hostKey]: ['10.6.0.1', '10.6.0.2', '10.6.0.3'] }, 'orders back in the snapshot');
    const healed = await verify();
    assert.equal(healed.code, 0, explain(healed));
  });

  it('a live service deleted from Redis directly is missing, tampered endpoints differ (exit 1, named, in text and --json)', async () => {
    const hostKey = 'dubbo/com.verify.users';
    const m = redis.multi().hdel(keys().resources, `ServiceEntry|${hostKey}`);
    for (let p = 0; p < PARTITIONS; p++) m.hdel(keys().partitionServices(p), hostKey);
    await m.exec();
    // consul/web as served: one endpoint relabelled, one gone, one that no registry has.
    const field = 'ServiceEntry|consul/web';
    const orig = decodeResource((await redis.hgetBuffer(keys().resources, field))!);
    const body = orig.body as { endpoints: { address: string; labels: Record<string, string> }[] };
    body.endpoints = body.endpoints.filter((e) => e.address !== '10.7.0.2');
    body.endpoints.find((e) => e.address === '10.7.0.1')!.labels.version = 'v9';
    body.endpoints.push({ ...body.endpoints[0]!, address: '10.7.9.9' });
    await redis.hset(
      keys().resources,
      field,
      encodeResource(
        'ServiceEntry',
        { name: orig.name, createTimeMs: orig.createTimeMs, labels: orig.labels, annotations: orig.annotations },
        body,
      ).any,
    );

    const text = await verify();
    keep('deleted', text);
    assert.equal(text.code, 1, explain(text));
    assert.match(
      text.stdout,
      /^MISMATCH: 2 mesh hosts differ from the registry in every round \(3 rounds 2 s apart, .*\): 1 missing in the mesh, 0 extra in the mesh, 1 with different endpoints or state$/m,
    );
    assert.match(
      text.stdout,
      /^ {2}- dubbo\/com\.verify\.users \(source zk1, registry service com\.verify\.Users\): MISSING in the mesh/m,
    );
    assert.match(text.stdout, /^ {2}~ consul\/web \(source c1, registry service web\): differs$/m);
    assert.match(text.stdout, /^ {6}- endpoint 10\.7\.0\.2 http=8080 .*\(registered, not in the mesh\)$/m);
    assert.match(text.stdout, /^ {6}\+ endpoint 10\.7\.9\.9 http=8080 .*\(in the mesh, not registered\)$/m);
    assert.match(
      text.stdout,
      /^ {6}~ endpoint 10\.7\.0\.1 http=8080: label version v1 -> v9 {2}\(registry -> mesh\)$/m,
    );
    const json = await verify(['--json']);
    assert.equal(json.code, 1, explain(json));
    const out = JSON.parse(json.stdout);
    assert.equal(out.equal, false);
    assert.deepEqual(
      out.differences.map((d: { source: string; host: string; what: string; fold?: string }) => [
        d.source,
        d.host,
        d.what,
        d.fold,
      ]),
      [
        ['zk1', hostKey, 'missing-in-mesh', 'missing'],
        ['c1', 'consul/web', 'differs', undefined],
      ],
    );
    assert.deepEqual(
      out.differences[0].missingEndpoints.map((e: { address: string }) => e.address),
      ['10.6.2.1'],
    );
    const web = out.differences[1];
    assert.deepEqual(
      [
        web.missingEndpoints.map((e: { address: string }) => e.address),
        web.extraEndpoints.map((e: { address: string }) => e.address),
      ],
      [['10.7.0.2'], ['10.7.9.9']],
    );
    assert.deepEqual(web.changedEndpoints, [
      { endpoint: '10.7.0.1 http=8080', changes: { 'label version': ['v1', 'v9'] } },
    ]);
  });

  it('exit 3 when a registry cannot be read', async () => {
    const cfg = structuredClone(mb.config);
    cfg.sources[1].address = `http://127.0.0.1:${await freePort()}`;
    const file = path.join(servers.runDir, 'verify-registry-unreachable.yaml');
    fs.writeFileSync(file, YAML.stringify(cfg));
    const r = await meshbridge(file, ['verify', '--registry']);
    keep('unreachable', r);
    assert.equal(r.code, 3, explain(r));
    assert.match(
      r.stderr,
      /^meshbridge verify: cannot verify: source c1 \(consul\): the registry could not be read: .*ECONNREFUSED/m,
    );
  });
});
