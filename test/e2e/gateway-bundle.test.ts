import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { makeRunDir, projectRoot } from '../../harness/paths.ts';
import { ROLE_NODE_FLAGS } from '../../harness/role-node-flags.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startRedis, type RedisServer } from '../../harness/redis.ts';
import { SnapshotWriter, serviceEntry } from '../../harness/snapshot-writer.ts';
import { gatewayConfig } from '../../harness/gateway-fleet.ts';
import { ManagedProcess } from '../../harness/process.ts';
import { freePort } from '../../harness/ports.ts';
import { XdsClient } from '../../harness/xds-probe.ts';
import { waitFor } from '../../harness/wait.ts';

const SE = 'networking.istio.io/v1/ServiceEntry';
const NODE = { id: 'sidecar~127.0.0.1~istiod-bundle.istio-system~istio-system.svc.cluster.local', metadata: {} };

/**
 * The gateway role as the image runs it: `npm run build` (tsc, then the role bundled into one file by esbuild,
 * scripts/bundle-gateway.ts) and `node --max-semi-space-size=1 --expose-gc dist/bin/cli.js gateway` (deploy/docker/meshbridge.sh).
 * Everything else tests the gateway from the TypeScript sources; this proves the bundle serves, reports and refuses a
 * bad configuration the same way, and starts from the V8 code cache the build wrote beside it.
 */
describe('the bundled gateway role (dist/bin/gateway-role.js and its bundle), as the image starts it', () => {
  let runDir: string;
  let redis: RedisServer;
  let cli: string;
  let w: SnapshotWriter;

  before(async () => {
    ensureInstalled(['redis']);
    runDir = makeRunDir('gateway-bundle');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: projectRoot, stdio: 'inherit' });
    for (const d of ['avro', 'proto'])
      fs.cpSync(path.join(projectRoot, 'schemas', d), path.join(projectRoot, 'dist', 'schemas', d), {
        recursive: true,
      });
    cli = path.join(projectRoot, 'dist', 'bin', 'cli.js');
    redis = await startRedis(runDir);
    w = await SnapshotWriter.open(redis.url);
    await w.commit(
      new Map(Array.from({ length: 3 }, (_, i) => serviceEntry({ namespace: 'b', host: `s${i}.b`, endpoints: 2 }))),
      [],
      { complete: true },
    );
  });

  after(async () => {
    w?.close();
    await redis?.stop();
  });

  it('is one file without the Kafka client, and serves, reports and decodes like the sources', async () => {
    const bundle = fs.readFileSync(path.join(projectRoot, 'dist', 'bin', 'gateway-role.bundle.cjs'), 'utf8');
    // esbuild keys each bundled CommonJS module by its path (kafkajs and avsc are CommonJS too).
    for (const pkg of ['ioredis', '@grpc/grpc-js', 'prom-client'])
      assert.ok(bundle.includes(`node_modules/${pkg}/`), pkg);
    for (const pkg of ['kafkajs', 'avsc', 'tsx']) assert.ok(!bundle.includes(`node_modules/${pkg}/`), `no ${pkg}`);

    const grpcPort = await freePort();
    const httpPort = await freePort();
    const file = path.join(runDir, 'gateway.yaml');
    fs.writeFileSync(file, YAML.stringify(gatewayConfig(redis.url, w.prefix, { grpcPort, httpPort })));
    const proc = new ManagedProcess({
      name: 'gateway-bundled',
      command: process.execPath,
      args: [...ROLE_NODE_FLAGS.gateway, cli, 'gateway', '--config', file],
      env: { NODE_ENV: 'production', MESHBRIDGE_LOG_LEVEL: 'info' },
      logDir: runDir,
    });
    const c = new XdsClient(`127.0.0.1:${grpcPort}`, NODE);
    try {
      const http = (p: string) => fetch(`http://127.0.0.1:${httpPort}${p}`);
      await waitFor(
        async () => {
          proc.assertRunning();
          return (await http('/readyz').catch(() => undefined))?.status === 200;
        },
        { what: `bundled gateway ready (log ${proc.logFile})`, timeoutMs: 60_000, intervalMs: 50 },
      );
      c.open();
      const got = c.next(SE);
      c.send({ typeUrl: SE });
      const r = await got;
      assert.equal(r.resources.length, 3, 'the three ServiceEntries');
      // The MCP schemas stay outside the bundle (dist/schemas/): loaded on the first /debug/resources.
      const debug = (await (await http('/debug/resources')).json()) as { resources: { field: string }[] };
      assert.deepEqual(
        debug.resources.map((x) => x.field),
        ['ServiceEntry|b/s0.b', 'ServiceEntry|b/s1.b', 'ServiceEntry|b/s2.b'],
      );
      const metrics = await (await http('/metrics')).text();
      assert.match(metrics, /^meshbridge_gateway_\w+/m, 'gateway metrics');
      const log = fs.readFileSync(proc.logFile, 'utf8');
      assert.match(log, /"msg":"snapshot loaded from redis"/, 'structured logs');
      // The build wrote the code cache under the launcher's flags, so V8 takes it (bin/gateway-role-loader.ts).
      assert.match(log, /"codeCache":"used"/, 'the bundle compiled with its code cache');
    } finally {
      c.close();
      await proc.stop();
    }
  });

  it('refuses a bad configuration with exit 78, naming the key', () => {
    const file = path.join(runDir, 'bad.yaml');
    const cfg = gatewayConfig(redis.url, w.prefix) as unknown as { gateway: Record<string, unknown> };
    fs.writeFileSync(file, YAML.stringify({ ...cfg, gateway: { ...cfg.gateway, debounceMs: -5 } }));
    const r = spawnSync(process.execPath, [cli, 'gateway', '--config', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /gateway\.debounceMs/);
  });
});
