import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { editDistance, envOverrides, loadConfig, nearest, parseConfig } from '../../services/shared/config.ts';
import { kafkaConnectionOptions } from '../../services/shared/kafka-client.ts';
import { redisConnectionOptions } from '../../services/shared/redis-client.ts';
import { ConfigError } from '../../services/shared/errors.ts';
import { projectRoot } from '../../harness/paths.ts';

const valid = {
  kafka: { brokers: ['127.0.0.1:9092'] },
  redis: { url: 'redis://127.0.0.1:6379' },
  sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181' }],
};

describe('configuration', () => {
  it('applies documented defaults', () => {
    const c = parseConfig(valid);
    assert.equal(c.kafka.topic, 'meshbridge.registry-events');
    assert.equal(c.kafka.retentionMs, -1);
    const zk = c.sources[0]!;
    assert.equal(zk.kind, 'zookeeper-dubbo');
    assert.equal(zk.kind === 'zookeeper-dubbo' && zk.root, '/dubbo');
    assert.equal(c.gateway.debounceMs, 20);
  });

  it('names every offending key', () => {
    assert.throws(
      () =>
        parseConfig({
          ...valid,
          kafka: { brokers: ['nohostport'] },
          sources: [{ id: 'Bad Id', kind: 'zookeeper-dubbo', connect: '' }],
          gateway: { grpcPort: 70000 },
        }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /kafka\.brokers\.0: host:port/);
        assert.match(e.message, /sources\.0\.id: source id/);
        assert.match(e.message, /sources\.0\.connect: ZooKeeper connect string/);
        assert.match(e.message, /gateway\.grpcPort/);
        return true;
      },
    );
  });

  it('gateway shards: 256 by default, and every shard port must exist (grpcPort + shards - 1 <= 65535)', () => {
    assert.equal(parseConfig(valid).gateway.shards, 256);
    assert.throws(
      () => parseConfig({ ...valid, gateway: { grpcPort: 65400 } }),
      (e: Error) => e instanceof ConfigError && /gateway\.grpcPort: shard i listens on grpcPort \+ i/.test(e.message),
    );
    assert.equal(parseConfig({ ...valid, gateway: { grpcPort: 65400, shards: 100 } }).gateway.shards, 100);
  });

  it('Dubbo label rules read what the mode has: URL parameters (interface) or instance metadata (application)', () => {
    const zk = (extra: Record<string, unknown>) =>
      parseConfig({ ...valid, sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181', ...extra }] })
        .sources[0];
    const ok = zk({ labelRules: [{ from: 'param', match: 'dubbo\\.tag', label: 'dubbo.apache.org/tag' }] });
    assert.deepEqual(ok?.kind === 'zookeeper-dubbo' && ok.labelRules, [
      { from: 'param', match: 'dubbo\\.tag', label: 'dubbo.apache.org/tag' },
    ]);
    const absent = zk({});
    assert.equal(absent?.kind === 'zookeeper-dubbo' && absent.labelRules, undefined, "absent: the mode's defaults");
    assert.throws(
      () => zk({ labelRules: [{ from: 'metadata', match: 'x' }] }),
      /sources\.0\.labelRules\.0\.from: interface mode labels from provider URL parameters: use from: param/,
    );
    assert.throws(
      () => zk({ mode: 'application', labelRules: [{ from: 'param', match: 'x' }] }),
      /sources\.0\.labelRules\.0\.from: application mode labels from instance metadata: use from: metadata/,
    );
    assert.throws(() => zk({ labelRules: [{ from: 'param', match: 'a)(b' }] }), /sources\.0\.labelRules\.0\.match/);
    assert.throws(() => zk({ labelRules: [{ from: 'tag', match: 'x' }] }), /sources\.0\.labelRules\.0\.from/);
  });

  it('ZooKeeper periodic re-read pace: 500 reads/s by default, at least 1, named when wrong', () => {
    const zk = (extra: Record<string, unknown>) =>
      parseConfig({ ...valid, sources: [{ id: 'zk', kind: 'zookeeper-dubbo', connect: 'h:2181', ...extra }] })
        .sources[0]!;
    const d = zk({});
    assert.equal(d.kind === 'zookeeper-dubbo' && d.periodicResyncReadsPerSecond, 500);
    assert.throws(
      () => zk({ periodicResyncReadsPerSecond: 0 }),
      (e: Error) => e instanceof ConfigError && /sources\.0\.periodicResyncReadsPerSecond/.test(e.message),
    );
  });

  it('takes connection keys from MESHBRIDGE_* environment over the file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mb-cfg-')), 'c.yaml');
    fs.writeFileSync(file, JSON.stringify(valid));
    const c = loadConfig(file, { MESHBRIDGE_KAFKA_BROKERS: 'a:1,b:2', MESHBRIDGE_GATEWAY_GRPC_PORT: '15999' });
    assert.deepEqual(c.kafka.brokers, ['a:1', 'b:2']);
    assert.equal(c.gateway.grpcPort, 15999);
  });

  it('a role started with a bad config exits 78 with the key in the message, before touching any server', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mb-cfg-')), 'c.yaml');
    fs.writeFileSync(file, 'kafka: {brokers: []}\nredis: {url: "http://x"}\nsources: []\n');
    const r = spawnSync(
      process.execPath,
      [path.join(projectRoot, 'bin', 'meshbridge.js'), 'gateway', '--config', file],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /kafka\.brokers/);
    assert.match(r.stderr, /redis\.url: redis:\/\/host:port/);
    assert.match(r.stderr, /sources: configure at least one registry source/);
  });

  it('a missing config file or a non-mapping top level is a config error naming the file', () => {
    assert.throws(
      () => loadConfig('/nonexistent/mb.yaml', {}),
      (e: Error) => e instanceof ConfigError && /config file \/nonexistent\/mb\.yaml/.test(e.message),
    );
    const file = path.join(tmp(), 'list.yaml');
    fs.writeFileSync(file, '- a\n- b\n');
    assert.throws(() => loadConfig(file, {}), /top level must be a mapping/);
  });
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mb-cfg-'));
const problemsOf = (raw: unknown): string[] => {
  try {
    parseConfig(raw, 't');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems.map((p) => p.replace(/ \(in t\)$/, ''));
  }
  assert.fail('expected a ConfigError');
};
const withSource = (src: Record<string, unknown>) => ({ ...valid, sources: [src] });

describe('configuration: edit distance and suggestions', () => {
  it('counts insertions, deletions, substitutions and adjacent transpositions', () => {
    assert.equal(editDistance('gateway', 'gateway'), 0);
    assert.equal(editDistance('gatway', 'gateway'), 1);
    assert.equal(editDistance('hostTemplte', 'hostTemplate'), 1);
    assert.equal(editDistance('reids', 'redis'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });
  it('suggests the nearest candidate only when it is a plausible typo, case-insensitively', () => {
    assert.equal(nearest('gatway', ['kafka', 'redis', 'gateway']), 'gateway');
    assert.equal(nearest('HOSTTEMPLATE', ['hostTemplate', 'host']), 'hostTemplate');
    assert.equal(nearest('zzzzzz', ['kafka', 'redis']), undefined);
    assert.equal(nearest('passwrdFil', ['password', 'passwordFile']), 'passwordFile');
  });
});

describe('configuration: unknown keys', () => {
  it('names each unknown key with its path and the nearest valid key', () => {
    const p = problemsOf({
      ...valid,
      gatway: {},
      redis: { url: 'redis://h:1', pasword: 'x' },
      sources: [{ ...valid.sources[0], hostTemplte: '{interface}' }],
    });
    assert.ok(p.includes('gatway: unknown key; did you mean "gateway"?'), p.join('\n'));
    assert.ok(p.includes('redis.pasword: unknown key; did you mean "password"?'), p.join('\n'));
    assert.ok(p.includes('sources.0.hostTemplte: unknown key; did you mean "hostTemplate"?'), p.join('\n'));
  });
  it('lists the valid keys when nothing is near', () => {
    const p = problemsOf({ ...valid, kafka: { brokers: ['a:1'], zzzzzzzz: 1 } });
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^kafka\.zzzzzzzz: unknown key; valid keys: brokers, topic, .*sasl$/);
  });
  it('reports several unknown keys of one object one by one, in nested objects too', () => {
    const p = problemsOf({
      ...valid,
      collector: { idd: 'x', httpPrt: 1 },
      sources: [{ ...valid.sources[0], leaderElection: { leasMs: 3000 } }],
      gateway: { tls: { certFile: 'c', keyFile: 'k', caFile: 'x' } },
    });
    assert.ok(p.includes('collector.idd: unknown key; did you mean "id"?'), p.join('\n'));
    assert.ok(p.includes('collector.httpPrt: unknown key; did you mean "httpPort"?'), p.join('\n'));
    assert.ok(p.includes('sources.0.leaderElection.leasMs: unknown key; did you mean "leaseMs"?'), p.join('\n'));
    assert.ok(
      p.some((x) => x.startsWith('gateway.tls.caFile: unknown key')),
      p.join('\n'),
    );
  });
  it('a key of another source kind says so', () => {
    const p = problemsOf(withSource({ id: 'c1', kind: 'consul', connect: '127.0.0.1:2181' }));
    assert.deepEqual(p, ['sources.0.connect: unknown key here (a key of kind zookeeper-dubbo, this source is consul)']);
  });
  it('unknown keys in consul label rules', () => {
    const p = problemsOf(
      withSource({ id: 'c1', kind: 'consul', labelRules: [{ from: 'tag', match: 'x', lable: 'y' }] }),
    );
    assert.deepEqual(p, ['sources.0.labelRules.0.lable: unknown key; did you mean "label"?']);
  });
});

describe('configuration: every problem at once', () => {
  it('reports the problems of every section and every source in one error', () => {
    const p = problemsOf({
      kafka: { brokers: ['nohostport'], partitions: 0 },
      redis: { url: 'http://x' },
      sources: [
        { id: 'Bad Id', kind: 'zookeeper-dubbo', connect: '', root: 'no-slash' },
        { id: 'c1', kind: 'consul', address: 'tcp://x', health: 'green' },
        { id: 'c1', kind: 'consul' },
      ],
      gateway: { grpcPort: 70000 },
    });
    for (const key of [
      'kafka.brokers.0',
      'kafka.partitions',
      'redis.url',
      'sources.0.id',
      'sources.0.connect',
      'sources.0.root',
      'sources.1.address',
      'sources.1.health',
      'sources.2.id',
      'gateway.grpcPort',
    ]) {
      assert.ok(
        p.some((x) => x.startsWith(`${key}: `)),
        `${key} missing in:\n${p.join('\n')}`,
      );
    }
    assert.ok(p.includes('sources.2.id: duplicate source id "c1" (also sources.1.id)'), p.join('\n'));
  });
  it('a duplicate id is reported even when the sources have other problems', () => {
    const p = problemsOf({
      ...valid,
      sources: [
        { id: 'a', kind: 'consul', health: 'x' },
        { id: 'a', kind: 'consul' },
      ],
    });
    assert.ok(p.some((x) => x.startsWith('sources.0.health')));
    assert.ok(p.some((x) => x.startsWith('sources.1.id: duplicate')));
  });
  it('a source that is not an object says what a source is', () => {
    assert.deepEqual(problemsOf({ ...valid, sources: ['zk1'] }), [
      'sources.0: a registry source: an object with id and kind (zookeeper-dubbo | consul | eureka | nacos)',
    ]);
  });
});

describe('configuration: source kind', () => {
  it("a wrong kind is named with the valid kinds and a suggestion, and does not hide the common fields' problems", () => {
    const p = problemsOf(
      withSource({
        id: 'Bad Id',
        kind: 'zookeper-dubbo',
        connect: '127.0.0.1:2181',
        coalesceMs: -1,
        leaderElection: { leaseMs: 1 },
        hostTemplte: '{interface}',
      }),
    );
    assert.ok(
      p.includes(
        'sources.0.kind: unknown kind "zookeper-dubbo"; did you mean "zookeeper-dubbo"? (valid kinds: zookeeper-dubbo, consul, eureka, nacos)',
      ),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith('sources.0.id: source id')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith('sources.0.coalesceMs: ')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith('sources.0.leaderElection.leaseMs: ')),
      p.join('\n'),
    );
    assert.ok(p.includes('sources.0.hostTemplte: unknown key; did you mean "hostTemplate"?'), p.join('\n'));
    // connect is a key of some kind: not reported as unknown while the kind is unknown.
    assert.ok(!p.some((x) => x.startsWith('sources.0.connect')), p.join('\n'));
  });
  it('a missing kind lists the valid kinds', () => {
    const p = problemsOf(withSource({ id: 'x', connect: 'a:1' }));
    assert.deepEqual(p, ['sources.0.kind: required: one of "zookeeper-dubbo", "consul", "eureka", "nacos"']);
  });
  it('a kind that is nothing like a valid one gets no suggestion', () => {
    const p = problemsOf(withSource({ id: 'x', kind: 'etcd' }));
    assert.deepEqual(p, ['sources.0.kind: unknown kind "etcd" (valid kinds: zookeeper-dubbo, consul, eureka, nacos)']);
  });
});

describe('configuration: secrets from files and environment', () => {
  const secretFile = (value: string) => {
    const f = path.join(tmp(), 'secret');
    fs.writeFileSync(f, value, { mode: 0o600 });
    return f;
  };
  const sasl = { mechanism: 'scram-sha-512', username: 'mb' };

  it('redis.passwordFile and kafka.sasl.passwordFile are read at load time, without the trailing newline', () => {
    const c = parseConfig({
      ...valid,
      kafka: { ...valid.kafka, sasl: { ...sasl, passwordFile: secretFile('k-secret\n') } },
      redis: { ...valid.redis, username: 'mb', passwordFile: secretFile('r-secret\r\n') },
    });
    assert.equal(c.kafka.sasl?.password, 'k-secret');
    assert.equal(c.redis.password, 'r-secret');
    assert.equal(c.redis.username, 'mb');
    assert.deepEqual(kafkaConnectionOptions(c).sasl, {
      mechanism: 'scram-sha-512',
      username: 'mb',
      password: 'k-secret',
    });
    assert.deepEqual(redisConnectionOptions(c), { username: 'mb', password: 'r-secret' });
  });
  it('a missing or empty secret file is a config error naming the key and the path', () => {
    const empty = secretFile('\n');
    const p = problemsOf({
      ...valid,
      kafka: { ...valid.kafka, sasl: { ...sasl, passwordFile: '/nonexistent/kafka-pw' } },
      redis: { ...valid.redis, passwordFile: empty },
    });
    assert.ok(p.includes('kafka.sasl.passwordFile: cannot read /nonexistent/kafka-pw: ENOENT'), p.join('\n'));
    assert.ok(p.includes(`redis.passwordFile: ${empty} is empty`), p.join('\n'));
  });
  it('an unreadable secret file (a directory, here) is a config error', () => {
    const dir = tmp();
    assert.deepEqual(problemsOf({ ...valid, redis: { ...valid.redis, passwordFile: dir } }), [
      `redis.passwordFile: cannot read ${dir}: not a regular file`,
    ]);
  });
  it('password and passwordFile together, or SASL without either, are errors', () => {
    assert.deepEqual(
      problemsOf({ ...valid, redis: { ...valid.redis, password: 'a', passwordFile: secretFile('b') } }),
      ['redis.passwordFile: set password or passwordFile, not both'],
    );
    assert.deepEqual(problemsOf({ ...valid, kafka: { ...valid.kafka, sasl } }), [
      'kafka.sasl.password: required (or passwordFile)',
    ]);
  });
  it('the Consul tokenFile must be readable', () => {
    assert.deepEqual(problemsOf(withSource({ id: 'c1', kind: 'consul', tokenFile: '/nonexistent/token' })), [
      'sources.0.tokenFile: cannot read /nonexistent/token: ENOENT',
    ]);
  });

  const fileWith = (config: unknown) => {
    const f = path.join(tmp(), 'c.yaml');
    fs.writeFileSync(f, JSON.stringify(config));
    return f;
  };
  it('MESHBRIDGE_REDIS_PASSWORD / MESHBRIDGE_KAFKA_SASL_PASSWORD override the file, including its passwordFile', () => {
    const file = fileWith({
      ...valid,
      kafka: { ...valid.kafka, sasl: { ...sasl, passwordFile: '/nonexistent/pw' } },
      redis: { ...valid.redis, passwordFile: '/nonexistent/pw' },
    });
    const c = loadConfig(file, {
      MESHBRIDGE_REDIS_PASSWORD: 'from-env',
      MESHBRIDGE_REDIS_USERNAME: 'acl-user',
      MESHBRIDGE_KAFKA_SASL_PASSWORD: 'k-env',
    });
    assert.equal(c.redis.password, 'from-env');
    assert.equal(c.redis.username, 'acl-user');
    assert.equal(c.kafka.sasl?.password, 'k-env');
  });
  it('the *_FILE form reads the value from a file, for every override', () => {
    const file = fileWith(valid);
    const c = loadConfig(file, {
      MESHBRIDGE_REDIS_PASSWORD_FILE: secretFile('r-file\n'),
      MESHBRIDGE_KAFKA_SASL_MECHANISM: 'plain',
      MESHBRIDGE_KAFKA_SASL_USERNAME: 'mb',
      MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE: secretFile('k-file'),
      MESHBRIDGE_REDIS_URL_FILE: secretFile('rediss://r:6380\n'),
    });
    assert.equal(c.kafka.sasl?.password, 'k-file');
    assert.equal(c.kafka.sasl?.mechanism, 'plain');
    assert.equal(c.redis.url, 'rediss://r:6380');
    assert.equal(c.redis.password, 'r-file');
  });
  it('NAME and NAME_FILE both set, or an unreadable NAME_FILE, are config errors naming the variable and path', () => {
    const file = fileWith(valid);
    assert.throws(
      () => loadConfig(file, { MESHBRIDGE_REDIS_PASSWORD: 'a', MESHBRIDGE_REDIS_PASSWORD_FILE: secretFile('b') }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /MESHBRIDGE_REDIS_PASSWORD and MESHBRIDGE_REDIS_PASSWORD_FILE are both set; set one/);
        return true;
      },
    );
    assert.throws(
      () => loadConfig(fileWith({ ...valid, gatway: {} }), { MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE: '/nonexistent/k' }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE: cannot read \/nonexistent\/k: ENOENT/);
        assert.match(e.message, /gatway: unknown key; did you mean "gateway"\?/); // the rest is still checked
        return true;
      },
    );
  });
  it("MESHBRIDGE_CONSUL_TOKEN_<ID>_FILE becomes that source's token", () => {
    const file = fileWith(withSource({ id: 'dc-1', kind: 'consul', tokenFile: '/nonexistent/token' }));
    const c = loadConfig(file, { MESHBRIDGE_CONSUL_TOKEN_DC_1_FILE: secretFile('tok\n') });
    const src = c.sources[0]!;
    assert.ok(src.kind === 'consul' && src.token === 'tok' && src.tokenFile === undefined);
  });
  it('every override has a documented name', () => {
    for (const n of [
      'MESHBRIDGE_REDIS_PASSWORD',
      'MESHBRIDGE_REDIS_USERNAME',
      'MESHBRIDGE_KAFKA_SASL_PASSWORD',
      'MESHBRIDGE_KAFKA_SASL_USERNAME',
      'MESHBRIDGE_KAFKA_SASL_MECHANISM',
    ])
      assert.ok(envOverrides.includes(n), n);
    const doc = fs.readFileSync(path.join(projectRoot, 'docs', 'configuration.md'), 'utf8');
    for (const n of envOverrides) assert.ok(doc.includes(n), `docs/configuration.md does not mention ${n}`);
  });
});

describe('configuration: Kafka TLS and SASL, Redis AUTH and TLS', () => {
  const pem = () => {
    const d = tmp();
    for (const f of ['ca.crt', 'client.crt', 'client.key']) fs.writeFileSync(path.join(d, f), `-----BEGIN ${f}-----\n`);
    return { ca: path.join(d, 'ca.crt'), cert: path.join(d, 'client.crt'), key: path.join(d, 'client.key') };
  };
  it('kafka.ssl: true is TLS with the built-in CAs; an object sets CA, client pair, servername; false is plaintext', () => {
    assert.deepEqual(kafkaConnectionOptions(parseConfig({ ...valid, kafka: { ...valid.kafka, ssl: true } })).ssl, {
      rejectUnauthorized: true,
    });
    assert.equal(
      kafkaConnectionOptions(parseConfig({ ...valid, kafka: { ...valid.kafka, ssl: false } })).ssl,
      undefined,
    );
    assert.equal(kafkaConnectionOptions(parseConfig(valid)).ssl, undefined);
    const f = pem();
    const ssl = kafkaConnectionOptions(
      parseConfig({
        ...valid,
        kafka: { ...valid.kafka, ssl: { caFile: f.ca, certFile: f.cert, keyFile: f.key, servername: 'kafka.example' } },
      }),
    ).ssl as Record<string, unknown>;
    assert.equal(String((ssl.ca as Buffer[])[0]), '-----BEGIN ca.crt-----\n');
    assert.equal(String(ssl.cert), '-----BEGIN client.crt-----\n');
    assert.equal(String(ssl.key), '-----BEGIN client.key-----\n');
    assert.equal(ssl.servername, 'kafka.example');
    assert.equal(ssl.rejectUnauthorized, true);
  });
  it('TLS files must exist, and a client certificate needs its key', () => {
    const f = pem();
    const p = problemsOf({
      ...valid,
      kafka: { ...valid.kafka, ssl: { caFile: '/nonexistent/ca.pem', certFile: f.cert } },
      redis: { url: 'rediss://h:1', tls: { keyFile: f.key, verify: false } },
    });
    assert.ok(p.includes('kafka.ssl.caFile: cannot read /nonexistent/ca.pem: ENOENT'), p.join('\n'));
    assert.ok(
      p.includes('kafka.ssl.keyFile: certFile and keyFile go together (client certificate and its key)'),
      p.join('\n'),
    );
    assert.ok(
      p.includes('redis.tls.certFile: certFile and keyFile go together (client certificate and its key)'),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith('redis.tls.verify: unknown key')),
      p.join('\n'),
    );
  });
  it('SASL mechanisms are plain, scram-sha-256 and scram-sha-512; username is required', () => {
    const p = problemsOf({ ...valid, kafka: { ...valid.kafka, sasl: { mechanism: 'SCRAM', password: 'x' } } });
    assert.ok(
      p.some((x) => x.startsWith('kafka.sasl.mechanism: ') && x.includes('scram-sha-256')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith('kafka.sasl.username: ')),
      p.join('\n'),
    );
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
      assert.equal(
        parseConfig({ ...valid, kafka: { ...valid.kafka, sasl: { mechanism, username: 'u', password: 'p' } } }).kafka
          .sasl?.mechanism,
        mechanism,
      );
    }
  });
  it('redis.tls needs a rediss:// url; rediss:// alone is TLS with the built-in CAs', () => {
    const f = pem();
    assert.deepEqual(problemsOf({ ...valid, redis: { url: 'redis://h:1', tls: { caFile: f.ca } } }), [
      'redis.tls: TLS settings need a rediss:// url',
    ]);
    const c = parseConfig({
      ...valid,
      redis: { url: 'rediss://h:1', tls: { caFile: f.ca, rejectUnauthorized: false } },
    });
    const o = redisConnectionOptions(c);
    assert.equal((o.tls as { rejectUnauthorized: boolean }).rejectUnauthorized, false);
    assert.deepEqual(redisConnectionOptions(parseConfig({ ...valid, redis: { url: 'rediss://h:1' } })), {});
  });
  it('an ACL user needs a password; a password in the URL and in redis.password conflict', () => {
    assert.deepEqual(problemsOf({ ...valid, redis: { url: 'redis://h:1', username: 'mb' } }), [
      'redis.username: an ACL user needs password or passwordFile',
    ]);
    assert.deepEqual(problemsOf({ ...valid, redis: { url: 'redis://:pw@h:1', password: 'other' } }), [
      'redis.password: the url already carries a password; set it in one place',
    ]);
    assert.equal(parseConfig({ ...valid, redis: { url: 'redis://mb:pw@h:1' } }).redis.url, 'redis://mb:pw@h:1');
  });
});
