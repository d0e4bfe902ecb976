import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadConfig, parseConfig } from '../../services/shared/config.ts';
import { ConfigError } from '../../services/shared/errors.ts';
import { projectRoot } from '../../harness/paths.ts';

const valid = { kafka: { brokers: ['127.0.0.1:9092'] }, redis: { url: 'redis://127.0.0.1:6379' }, sources: [{ id: 'zk1', kind: 'zookeeper-dubbo', connect: '127.0.0.1:2181' }] };

describe('configuration', () => {
  it('applies documented defaults', () => {
    const c = parseConfig(valid);
    assert.equal(c.kafka.topic, 'meshbridge.registry-events');
    assert.equal(c.kafka.retentionMs, -1);
    const zk = c.sources[0]!;
    assert.equal(zk.kind, 'zookeeper-dubbo');
    assert.equal(zk.kind === 'zookeeper-dubbo' && zk.root, '/dubbo');
    assert.equal(c.gateway.debounceMs, 50);
  });

  it('names every offending key', () => {
    assert.throws(() => parseConfig({ ...valid, kafka: { brokers: ['nohostport'] }, sources: [{ id: 'Bad Id', kind: 'zookeeper-dubbo', connect: '' }], gateway: { grpcPort: 70000 } }), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /kafka\.brokers\.0: host:port/);
      assert.match(e.message, /sources\.0\.id: source id/);
      assert.match(e.message, /sources\.0\.connect: ZooKeeper connect string/);
      assert.match(e.message, /gateway\.grpcPort/);
      return true;
    });
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
    const r = spawnSync(process.execPath, [path.join(projectRoot, 'bin', 'meshbridge.js'), 'gateway', '--config', file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /kafka\.brokers/);
    assert.match(r.stderr, /redis\.url: redis:\/\/host:port/);
    assert.match(r.stderr, /sources: configure at least one registry source/);
  });
});
