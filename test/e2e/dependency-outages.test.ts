import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeRunDir } from '../../harness/paths.ts';
import { startServers, pipeline, getJson, type Servers, type Pipeline, type Role } from '../../harness/stack.ts';
import { startRedis } from '../../harness/redis.ts';
import { startKafka } from '../../harness/kafka.ts';
import { waitFor } from '../../harness/wait.ts';
import type { ManagedProcess } from '../../harness/process.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';
import { meshbridge } from '../support/meshbridge-cli.ts';

/**
 * Each role started by hand while its dependency is down (issue 13): it must stay alive (/healthz 200), say in /readyz
 * which dependency is missing, its address and since when, and — once the dependency starts — become ready and do its
 * job without a restart (same process). Before this, the gateway and projector exited 1 within a second without
 * Redis, and the collector without Kafka served no /healthz and exited after ~60 s.
 */

interface Missing {
  name: string;
  address: string;
  ok: boolean;
  since: string;
  attempts: number;
  lastError?: string;
}

const httpPort = (mb: Pipeline, role: Role) =>
  role === 'collector' ? mb.ports.collectorHttp : role === 'projector' ? mb.ports.projectorHttp : mb.ports.gatewayHttp;
const readyz = async (mb: Pipeline, role: Role) => getJson(`http://127.0.0.1:${httpPort(mb, role)}/readyz`);
const healthz = async (mb: Pipeline, role: Role) =>
  (await fetch(`http://127.0.0.1:${httpPort(mb, role)}/healthz`)).status;

/** Waits until the role has failed to reach `dep` at least `attempts` times in this outage, and checks what it reports. */
async function assertWaitingFor(
  mb: Pipeline,
  role: Role,
  dep: string,
  address: string,
  attempts = 3,
): Promise<Missing> {
  const missing = await waitFor(
    async () => {
      mb.procs[role]!.assertRunning();
      const r = await readyz(mb, role);
      const m = (r.body.detail?.missing as Missing[] | undefined)?.find((x) => x.name === dep);
      return r.status === 503 && m && m.attempts >= attempts ? m : undefined;
    },
    { what: `${role} /readyz 503 naming ${dep} after ${attempts} failed attempts`, timeoutMs: 60_000 },
  );
  assert.equal(missing.address, address, `${role} names ${dep}'s address`);
  assert.equal(missing.ok, false);
  assert.ok(Date.parse(missing.since) <= Date.now(), 'since when');
  assert.ok(missing.lastError, `${role} says why: ${JSON.stringify(missing)}`);
  assert.equal(await healthz(mb, role), 200, `${role} is live while ${dep} is missing`);
  return missing;
}

/** Log lines of a role at level error (pino: 50) — a transient, retried outage must produce none. */
/** After `dependency` is back: every role ready and missing nothing, on the processes that waited for it. */
async function assertResumedOnSameProcesses(
  mb: Pipeline,
  procs: ManagedProcess[],
  pids: (number | undefined)[],
  dependency: string,
): Promise<void> {
  for (const role of ['collector', 'projector', 'gateway'] as const) {
    const r = await waitFor(
      async () => {
        const x = await readyz(mb, role);
        return x.status === 200 ? x : undefined;
      },
      { what: `${role} ready after ${dependency} started`, timeoutMs: 60_000 },
    );
    assert.deepEqual(r.body.detail.missing, [], `${role} misses nothing`);
  }
  assert.deepEqual(
    procs.map((p) => p.pid),
    pids,
    'no role was restarted',
  );
  assert.ok(procs.every((p) => p.running));
}

function errorLines(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && JSON.parse(l).level >= 50);
}

function warnLinesNaming(file: string, dep: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && JSON.parse(l).level === 40 && JSON.parse(l).dependency === dep);
}

describe('every role starts and stays up without its dependencies, and resumes when they come (real servers)', () => {
  let servers: Servers;
  const pipelines: Pipeline[] = [];
  let dubbo: DubboRegistrar | undefined;

  before(async () => {
    servers = await startServers(makeRunDir('dependency-outages'));
  });
  after(async () => {
    dubbo?.close();
    await Promise.all(pipelines.map((p) => p.stop()));
    await servers?.stop();
  });

  /** A provider registered in ZooKeeper, then served by the gateway: the whole pipeline works. */
  async function providerServed(mb: Pipeline, iface: string, ip: string): Promise<void> {
    dubbo?.close();
    dubbo = await DubboRegistrar.open(servers.zookeeper.connectString, mb.config.sources[0].root);
    await dubbo.register(iface, ip, 20880);
    const host = iface.toLowerCase();
    await waitFor(
      async () => {
        const r = await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/debug/resources?full=1`);
        return JSON.stringify(r.body.resources ?? []).includes(ip) && JSON.stringify(r.body.resources).includes(host);
      },
      { what: `${host} (${ip}) served by the gateway`, timeoutMs: 90_000 },
    );
  }

  it('Redis down at start: collector, projector and gateway wait (live, not ready, naming Redis), then resume on the same processes', async () => {
    const mb = await pipeline(servers);
    pipelines.push(mb);
    const redisPort = servers.redis.port;
    await servers.redis.stop();
    const procs = await Promise.all((['collector', 'projector', 'gateway'] as const).map((r) => mb.start(r)));
    const pids = procs.map((p) => p.pid);
    for (const role of ['collector', 'projector', 'gateway'] as const) {
      await assertWaitingFor(mb, role, 'redis', `127.0.0.1:${redisPort}`);
    }
    const down = await meshbridge(mb.configFile, ['status']);
    fs.writeFileSync(
      path.join(servers.runDir, 'status-redis-down.txt'),
      `${down.stdout}${down.stderr}exit ${down.code}\n`,
    );
    assert.equal(down.code, 3, `status: cannot check without Redis\n${down.stdout}${down.stderr}`);
    assert.match(down.stdout, new RegExp(`^redis +UNREACHABLE +127\\.0\\.0\\.1:${redisPort}`, 'm'));
    assert.match(down.stdout, /^kafka +OK/m);

    servers.redis = await startRedis(servers.runDir, { port: redisPort, name: 'redis-late' });
    await providerServed(mb, 'com.outage.RedisLate', '10.66.0.1');
    await assertResumedOnSameProcesses(mb, procs, pids, 'Redis');
    const healthy = await meshbridge(mb.configFile, ['status']);
    fs.writeFileSync(
      path.join(servers.runDir, 'status-healthy.txt'),
      `${healthy.stdout}${healthy.stderr}exit ${healthy.code}\n`,
    );
    assert.equal(healthy.code, 0, `status: healthy\n${healthy.stdout}${healthy.stderr}`);
    assert.match(healthy.stdout, /^snapshot +OK +version \d+, \d+ resources, complete/m);
    assert.match(healthy.stdout, /^gateway istiods +OK +0 connected/m);
    assert.match(healthy.stdout, /^mesh hosts +OK +every host is served from one namespace/m);
    for (const [i, role] of (['collector', 'projector', 'gateway'] as const).entries()) {
      const file = procs[i]!.logFile;
      assert.deepEqual(errorLines(file), [], `${role}: no ERROR line for a retried outage`);
      assert.equal(warnLinesNaming(file, 'redis').length, 1, `${role}: one warning per outage, naming redis`);
    }
  });

  it('Kafka down at start: collector and projector wait (live, not ready, naming Kafka), then resume on the same processes', async () => {
    // Kafka comes back as a fresh cluster on the same address (its data directory cannot be formatted twice).
    const kafkaPort = servers.kafka.port;
    await servers.kafka.stop();
    const mb = await pipeline(servers, { kafka: { brokers: [`127.0.0.1:${kafkaPort}`] } });
    pipelines.push(mb);
    const procs = await Promise.all((['collector', 'projector', 'gateway'] as const).map((r) => mb.start(r)));
    const pids = procs.map((p) => p.pid);
    for (const role of ['collector', 'projector'] as const) {
      await assertWaitingFor(mb, role, 'kafka', `127.0.0.1:${kafkaPort}`);
    }
    const down = await meshbridge(mb.configFile, ['status', '--json']);
    assert.equal(down.code, 3, `status: cannot check without Kafka\n${down.stdout}${down.stderr}`);
    const report = JSON.parse(down.stdout) as { checks: { check: string; outcome: string; detail: string }[] };
    assert.equal(report.checks.find((c) => c.check === 'kafka')?.outcome, 'unreachable');
    assert.equal(
      report.checks.find((c) => c.check === 'projector')?.outcome,
      'fail',
      'the projector answers, not ready',
    );

    const runDir2 = path.join(servers.runDir, 'kafka-late');
    fs.mkdirSync(runDir2, { recursive: true });
    servers.kafka = await startKafka(runDir2, { port: kafkaPort });
    await providerServed(mb, 'com.outage.KafkaLate', '10.66.0.2');
    await assertResumedOnSameProcesses(mb, procs, pids, 'Kafka');
    for (const [i, role] of (['collector', 'projector'] as const).entries()) {
      const file = procs[i]!.logFile;
      assert.deepEqual(errorLines(file), [], `${role}: no ERROR line for a retried outage (kafkajs included)`);
      assert.equal(warnLinesNaming(file, 'kafka').length, 1, `${role}: one warning per outage, naming kafka`);
    }
  });
});
