import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { DubboRegistrar } from './dubbo-registrar.ts';
import { connect, zookeeper, type ZkClient } from '../services/collector/zk-client.ts';
import { create, mkdirp, remove } from './zk-write.ts';

/**
 * `meshbridge demo-provider`: the demo workload of docker-compose.yml. It listens on a Dubbo port (20880, accepts and
 * closes) and an HTTP port (8080, /healthz), and registers itself — with its own container address — in both
 * registries the compose stack watches:
 *   - ZooKeeper: an ephemeral provider node under /dubbo/org.apache.dubbo.demo.DemoService/providers, exactly as
 *     Dubbo's ZookeeperRegistry writes it (harness/dubbo-registrar.ts), so it disappears when this process stops;
 *   - Consul: an agent service `demo-web` (meta protocol=http, version=v1), deregistered on SIGTERM.
 * Both registrations are re-asserted every few seconds, so a registry restarted empty gets them back.
 */
export const DEMO_INTERFACE = 'org.apache.dubbo.demo.DemoService';
export const DEMO_CONSUL_SERVICE = 'demo-web';

function ownAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

const log = (msg: string) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), role: 'demo-provider', msg })}\n`);

export async function runDemoProvider(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      zookeeper: { type: 'string' },
      root: { type: 'string' },
      consul: { type: 'string' },
      address: { type: 'string' },
    },
  });
  const zkConnect = String(values.zookeeper ?? 'zookeeper:2181');
  const root = String(values.root ?? '/dubbo');
  const consul = String(values.consul ?? 'http://consul:8500');
  const ip = String(values.address ?? ownAddress());
  const dubboPort = 20880;
  const httpPort = 8080;
  const serviceId = `${DEMO_CONSUL_SERVICE}-${os.hostname()}`;

  const dubbo = net.createServer((s) => s.end());
  const web = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(req.url === '/healthz' ? 'ok\n' : `hello from ${DEMO_CONSUL_SERVICE} at ${ip}\n`);
  });
  await Promise.all([
    new Promise<void>((r) => dubbo.listen(dubboPort, '0.0.0.0', r)),
    new Promise<void>((r) => web.listen(httpPort, '0.0.0.0', r)),
  ]);

  const providerDir = `${root}/${DEMO_INTERFACE}/providers`;
  const providerPath = `${providerDir}/${DubboRegistrar.providerUrl(DEMO_INTERFACE, ip, dubboPort)}`;
  let zk: ZkClient | undefined;
  let stopping = false;

  const assertZooKeeper = async () => {
    if (!zk || zk.getState() === zookeeper.State.EXPIRED || zk.getState() === zookeeper.State.DISCONNECTED) {
      zk?.close();
      zk = await connect(zkConnect, 10_000);
    }
    const exists = await new Promise<boolean>((resolve, reject) =>
      zk!.exists(providerPath, (e, stat) => (e ? reject(e) : resolve(!!stat))),
    );
    if (exists) return;
    await mkdirp(zk, providerDir);
    await create(zk, providerPath, zookeeper.CreateMode.EPHEMERAL);
    log(`registered Dubbo provider ${DEMO_INTERFACE} at ${ip}:${dubboPort} in ZooKeeper ${zkConnect}${providerDir}`);
  };
  let consulRegistered = false;
  const assertConsul = async () => {
    const res = await fetch(`${consul}/v1/agent/service/register`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ID: serviceId,
        Name: DEMO_CONSUL_SERVICE,
        Address: ip,
        Port: httpPort,
        Meta: { protocol: 'http', version: 'v1' },
        Tags: ['demo=true'],
      }),
    });
    if (!res.ok) throw new Error(`consul register: HTTP ${res.status} ${await res.text()}`);
    if (!consulRegistered)
      log(`registered Consul service ${DEMO_CONSUL_SERVICE} (${serviceId}) at ${ip}:${httpPort} in ${consul}`);
    consulRegistered = true;
  };

  const tick = async () => {
    for (const [what, step] of [
      ['zookeeper', assertZooKeeper],
      ['consul', assertConsul],
    ] as const) {
      try {
        await step();
      } catch (e) {
        log(`${what}: ${(e as Error).message} (retrying)`);
      }
    }
  };
  await tick();
  const timer = setInterval(() => {
    if (!stopping) void tick();
  }, 5000);

  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    log(`${sig}: deregistering`);
    await fetch(`${consul}/v1/agent/service/deregister/${serviceId}`, { method: 'PUT' }).catch(() => undefined);
    if (zk) {
      await remove(zk, providerPath).catch(() => undefined);
      zk.close();
    }
    dubbo.close();
    web.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
