import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import YAML from 'yaml';
import { Redis } from 'ioredis';
import { makeRunDir } from '../../harness/paths.ts';
import { meshbridgeArgs } from '../../harness/role-node-flags.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { makeClientCert, makeServerCerts, type ClientCert, type TestCerts } from '../../harness/certs.ts';
import { startKafka, type KafkaServer } from '../../harness/kafka.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { startZooKeeper, type ZooKeeperServer } from '../../harness/zookeeper.ts';
import { pipeline, startAllOrNone, getJson, type Pipeline, type Servers } from '../../harness/stack.ts';
import { ManagedProcess } from '../../harness/process.ts';
import { waitFor } from '../../harness/wait.ts';
import { DubboRegistrar } from '../support/dubbo-registry.ts';

/**
 * meshbridge against data stores secured the way managed services are: Kafka reachable only on a SASL_SSL listener
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; a client certificate required too) and Redis reachable only over TLS (client
 * certificate required), with `requirepass` for the default user and an ACL user for meshbridge. The roles run as
 * real child processes with the config an operator would write (docs/configuration.md shows the same).
 */

const USERS = {
  plain: { username: 'mb-plain', password: 'plain-secret' },
  scram256: { username: 'mb-scram256', password: 'scram256-secret' },
  scram512: { username: 'mb-scram512', password: 'scram512-secret' },
  redis: { username: 'meshbridge', password: 'redis-acl-secret' },
};
const REQUIREPASS = 'default-user-secret';

/** The projector's folded state in Redis for source zk1: mesh key -> sorted ip:port. */
async function snapshotOf(redis: Redis, prefix: string, partitions: number): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (let p = 0; p < partitions; p++) {
    for (const [key, json] of Object.entries(await redis.hgetall(`{${prefix}}:p${p}:services`))) {
      const c = JSON.parse(json).sources?.zk1;
      if (c)
        out[key] = c.instances
          .flatMap((i: { address: string; ports: Record<string, number> }) =>
            Object.values(i.ports).map((port) => `${i.address}:${port}`),
          )
          .sort();
    }
  }
  return out;
}

describe('secure transports: Kafka SASL_SSL (PLAIN, SCRAM) and Redis ACL user + requirepass + TLS', () => {
  let runDir: string;
  let certs: TestCerts;
  let client: ClientCert;
  let kafka: KafkaServer;
  let redisServer: RedisServer;
  let zookeeper: ZooKeeperServer;
  let mb: Pipeline;
  let redis: Redis;
  let dubbo: DubboRegistrar;
  const secret = (name: string, value: string) => {
    const f = path.join(runDir, 'secrets', name);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
    fs.writeFileSync(f, `${value}\n`, { mode: 0o600 }); // a trailing newline, as `echo` or a Kubernetes secret leaves it
    return f;
  };
  /** A role started outside the pipeline (which waits for /healthz): for starts that are expected to fail. */
  const extra: ManagedProcess[] = [];
  const writeConfig = (name: string, config: Record<string, any>) => {
    const f = path.join(runDir, `${name}.yaml`);
    fs.writeFileSync(f, YAML.stringify(config));
    return f;
  };
  const startRole = (
    role: string,
    configFile: string,
    name: string,
    env: NodeJS.ProcessEnv = {},
    args: string[] = [],
  ) => {
    const proc = new ManagedProcess({
      name,
      command: process.execPath,
      args: meshbridgeArgs(role, [...args, '--config', configFile]),
      env: { MESHBRIDGE_LOG_LEVEL: 'info', ...env },
      logDir: runDir,
    });
    extra.push(proc);
    return proc;
  };
  /**
   * Waits until one line of the role's output says what is wrong — the dependency, its address and the cause together —
   * and returns that line and the whole log. The role may exit or stay up (not ready) meanwhile.
   */
  const explains = (proc: ManagedProcess, patterns: RegExp[], what: string) =>
    waitFor(
      () => {
        const log = fs.readFileSync(proc.logFile, 'utf8');
        const line = log.split('\n').find((l) => patterns.every((p) => p.test(l)));
        return line ? { line, log } : undefined;
      },
      { what: `${what} (log ${proc.logFile})`, timeoutMs: 45_000, intervalMs: 200 },
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- log tail:\n${proc.tail(40)}`);
    });

  before(async () => {
    ensureInstalled(['redis', 'zookeeper', 'kafka']);
    runDir = makeRunDir('e2e-secure-transports');
    certs = makeServerCerts(path.join(runDir, 'certs'));
    client = makeClientCert(certs, 'meshbridge');
    [kafka, redisServer, zookeeper] = await startAllOrNone([
      startKafka(runDir, {
        saslSsl: {
          certs,
          clientAuth: true,
          plainUsers: [USERS.plain],
          scramUsers: [
            { ...USERS.scram256, mechanism: 'SCRAM-SHA-256' },
            { ...USERS.scram512, mechanism: 'SCRAM-SHA-512' },
          ],
        },
      }),
      startRedis(runDir, { requirepass: REQUIREPASS, users: [USERS.redis], tls: { certs, clientCert: client } }),
      startZooKeeper(runDir),
    ] as const);
    const servers: Servers = { kafka, redis: redisServer, zookeeper, runDir, stop: async () => undefined };
    mb = await pipeline(servers);
    // The pipeline's config, secured: Kafka only through SASL_SSL, Redis as the ACL user over TLS, secrets in files.
    mb.config.kafka = {
      ...mb.config.kafka,
      brokers: kafka.saslSsl!.brokers,
      ssl: { caFile: certs.caCert, certFile: client.cert, keyFile: client.key },
      sasl: {
        mechanism: 'scram-sha-512',
        username: USERS.scram512.username,
        passwordFile: secret('kafka-password', USERS.scram512.password),
      },
    };
    mb.config.redis = {
      ...mb.config.redis,
      username: USERS.redis.username,
      passwordFile: secret('redis-password', USERS.redis.password),
      tls: { caFile: certs.caCert, certFile: client.cert, keyFile: client.key },
    };
    fs.writeFileSync(mb.configFile, YAML.stringify(mb.config));
    redis = new Redis(redisServer.url, {
      username: USERS.redis.username,
      password: USERS.redis.password,
      tls: {
        ca: [fs.readFileSync(certs.caCert)],
        cert: fs.readFileSync(client.cert),
        key: fs.readFileSync(client.key),
      },
    });
    dubbo = await DubboRegistrar.open(zookeeper.connectString, mb.config.sources[0].root);
  });

  after(async () => {
    redis?.disconnect();
    dubbo?.close();
    await Promise.all([mb?.stop(), ...extra.map((p) => p.stop())]);
    await Promise.all([kafka?.stop(), redisServer?.stop(), zookeeper?.stop()]);
  });

  it('the servers are secured as configured: Redis answers NOAUTH without credentials, Kafka is reached only through SASL_SSL', async () => {
    // One raw RESP exchange over TLS: the default user needs requirepass.
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = tls.connect(
        {
          host: '127.0.0.1',
          port: redisServer.port,
          ca: [fs.readFileSync(certs.caCert)],
          cert: fs.readFileSync(client.cert),
          key: fs.readFileSync(client.key),
        },
        () => sock.write('PING\r\n'),
      );
      sock.once('data', (d) => {
        resolve(String(d));
        sock.destroy();
      });
      sock.once('error', reject);
    });
    assert.match(reply, /^-NOAUTH/);
    assert.deepEqual(mb.config.kafka.brokers, kafka.saslSsl!.brokers);
    assert.notDeepEqual(kafka.saslSsl!.brokers, kafka.brokers);
  });

  it('collector, projector and gateway run over Kafka SASL_SSL (SCRAM-SHA-512) and Redis ACL + TLS: a Dubbo provider reaches the snapshot and the gateway', async () => {
    await mb.start('projector');
    await mb.start('collector');
    await mb.start('gateway');
    await dubbo.register('com.secure.Greeter', '10.9.0.1', 20880);
    await dubbo.register('com.secure.Greeter', '10.9.0.2', 20880);
    const snap = await waitFor(
      async () => {
        const s = await snapshotOf(redis, mb.config.redis.prefix, mb.config.kafka.partitions);
        return s['dubbo/com.secure.greeter']?.length === 2 ? s : undefined;
      },
      { what: 'both providers in the Redis snapshot', timeoutMs: 45_000, intervalMs: 200 },
    );
    assert.deepEqual(snap['dubbo/com.secure.greeter'], ['10.9.0.1:20880', '10.9.0.2:20880']);
    const res = await waitFor(
      async () => {
        const r = await getJson(`http://127.0.0.1:${mb.ports.gatewayHttp}/debug/resources`);
        return r.body.resources?.some((x: { field: string }) => x.field.includes('com.secure.greeter'))
          ? r.body
          : undefined;
      },
      { what: 'the gateway serving com.secure.greeter', timeoutMs: 30_000 },
    );
    assert.equal(res.complete, true);
    // Every role's Redis connection is the ACL user's, not the default user's.
    const clients = ((await redis.client('LIST')) as string).split('\n').filter((l) => / name=meshbridge-/.test(l));
    const names = clients.map((l) => /name=(\S+)/.exec(l)![1]);
    for (const role of ['meshbridge-projector', 'meshbridge-gateway', 'meshbridge-collector'])
      assert.ok(names.includes(role), `${role} connected: ${names.join(', ')}`);
    for (const l of clients) assert.match(l, / user=meshbridge /, l);
    // Secrets read from files never reach the logs.
    for (const role of ['projector', 'collector', 'gateway'] as const) {
      const log = fs.readFileSync(mb.procs[role]!.logFile, 'utf8');
      for (const s of [USERS.scram512.password, USERS.redis.password])
        assert.ok(!log.includes(s), `${role} log contains a secret`);
    }
  });

  it('PLAIN and SCRAM-SHA-256, password from MESHBRIDGE_KAFKA_SASL_PASSWORD and MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE: the audit replay reads the events', async () => {
    const cases = [
      { mechanism: 'plain', user: USERS.plain, env: { MESHBRIDGE_KAFKA_SASL_PASSWORD: USERS.plain.password } },
      {
        mechanism: 'scram-sha-256',
        user: USERS.scram256,
        env: { MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE: secret('scram256', USERS.scram256.password) },
      },
    ];
    for (const c of cases) {
      const file = writeConfig(`replay-${c.mechanism}`, {
        ...mb.config,
        kafka: { ...mb.config.kafka, sasl: { mechanism: c.mechanism, username: c.user.username } },
      });
      // --no-redis: the replay is about Kafka here (the audit tools' own Redis client does not take redis.tls yet).
      const proc = startRole('replay', file, `replay-${c.mechanism}`, { ...c.env, MESHBRIDGE_LOG_LEVEL: 'warn' }, [
        '--no-redis',
      ]);
      const code = await waitFor(() => (proc.running ? undefined : proc.wait()), {
        what: `meshbridge replay over ${c.mechanism}`,
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      const out = fs.readFileSync(proc.logFile, 'utf8');
      assert.equal(code, 0, out);
      assert.match(out, /com\.secure\.greeter/, `${c.mechanism}: replay output names the service`);
      assert.match(out, /10\.9\.0\.2/);
    }
  });

  it('a wrong Kafka password: the collector says Kafka, the broker address and that SASL authentication failed', async () => {
    const proc = startRole('collector', mb.configFile, 'collector-wrong-kafka-password', {
      MESHBRIDGE_KAFKA_SASL_PASSWORD: 'not-the-password',
      MESHBRIDGE_COLLECTOR_HTTP_PORT: '0',
      MESHBRIDGE_COLLECTOR_ID: 'wrong-password',
    });
    const { line, log } = await explains(
      proc,
      [
        /kafka/i,
        new RegExp(kafka.saslSsl!.brokers[0]!.replace(/\./g, '\\.')),
        /SASL SCRAM SHA512 authentication failed/,
      ],
      'the collector explaining the SASL failure',
    );
    process.stdout.write(`# ${line}\n`);
    assert.doesNotMatch(log, /not-the-password/, 'the password is never logged');
  });

  it('a Kafka broker certificate from an untrusted CA: the projector says Kafka, the broker address and the certificate problem', async () => {
    const other = makeServerCerts(path.join(runDir, 'other-ca'));
    const file = writeConfig('untrusted-kafka-ca', {
      ...mb.config,
      kafka: { ...mb.config.kafka, ssl: { ...mb.config.kafka.ssl, caFile: other.caCert } },
      projector: { ...mb.config.projector, httpPort: 0 },
    });
    const proc = startRole('projector', file, 'projector-untrusted-kafka-ca');
    const { line } = await explains(
      proc,
      [
        /kafka/i,
        new RegExp(kafka.saslSsl!.brokers[0]!.replace(/\./g, '\\.')),
        /self[- ]signed certificate|unable to verify|certificate/i,
      ],
      'the projector explaining the TLS failure',
    );
    process.stdout.write(`# ${line}\n`);
  });

  it("a wrong Redis password (MESHBRIDGE_REDIS_PASSWORD over the file's passwordFile): the gateway says Redis, its address and WRONGPASS", async () => {
    const proc = startRole('gateway', mb.configFile, 'gateway-wrong-redis-password', {
      MESHBRIDGE_REDIS_PASSWORD: 'not-the-password',
      MESHBRIDGE_GATEWAY_HTTP_PORT: '0',
      MESHBRIDGE_GATEWAY_GRPC_PORT: '0',
    });
    const { line, log } = await explains(
      proc,
      [/redis/i, new RegExp(`127\\.0\\.0\\.1:${redisServer.port}`), /WRONGPASS/],
      'the gateway explaining the Redis AUTH failure',
    );
    process.stdout.write(`# ${line}\n`);
    assert.doesNotMatch(log, /not-the-password/, 'the password is never logged');
  });

  it('a Redis certificate from an untrusted CA: the projector says Redis, its address and the certificate problem', async () => {
    const other = makeServerCerts(path.join(runDir, 'other-ca-redis'));
    const file = writeConfig('untrusted-redis-ca', {
      ...mb.config,
      redis: { ...mb.config.redis, tls: { ...mb.config.redis.tls, caFile: other.caCert } },
      projector: { ...mb.config.projector, httpPort: 0 },
    });
    const proc = startRole('projector', file, 'projector-untrusted-redis-ca');
    const { line } = await explains(
      proc,
      [
        /redis/i,
        new RegExp(`127\\.0\\.0\\.1:${redisServer.port}`),
        /self[- ]signed certificate|unable to verify|certificate/i,
      ],
      'the projector explaining the Redis TLS failure',
    );
    process.stdout.write(`# ${line}\n`);
  });
});
