import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureInstalled, nacosHome } from './install.ts';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import { NacosConnection } from '../services/collector/nacos-grpc.ts';

export interface NacosServer {
  /** Main HTTP port; the gRPC SDK port is httpPort + 1000 (Nacos fixes that offset on the server side). */
  httpPort: number;
  grpcPort: number;
  /** http://127.0.0.1:PORT */
  address: string;
  /** Admin user and password when started with auth (`nacos` is Nacos's built-in admin). */
  username: string | undefined;
  password: string | undefined;
  proc: ManagedProcess;
  /** An access token for the admin (auth on), for the tests' own registration calls. */
  token(): Promise<string | undefined>;
  /** Stops and starts the server again on the same ports and data directory (embedded storage persists). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface NacosOptions {
  name?: string;
  /** Enables Nacos auth with the admin user `nacos` and this password. */
  adminPassword?: string;
  /** How long a service may stay empty before Nacos deletes it (and how often it looks); 2 s by default here. */
  emptyServiceCleanMs?: number;
  /** Nacos's delay before pushing a changed service to subscribers (nacos.naming.push.pushTaskDelay; 500 ms). */
  pushTaskDelayMs?: number;
  /** JVM heap (default 512m, as Nacos's standalone script). */
  heap?: string;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Nacos derives its other ports from the main one: gRPC SDK +1000, gRPC cluster +1001, Raft (persistent
 * instances, even standalone) -1000. A main port whose three companions are free too.
 */
async function portBlock(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await freePort();
    if (p < 21_000) continue;
    const others = await Promise.all([p + 1000, p + 1001, p - 1000].map(canBind));
    if (others.every(Boolean)) return p;
  }
  throw new Error('no free Nacos port block (main, main+1000, main+1001, main-1000) found');
}

/**
 * A standalone Nacos server (embedded storage) built from source by scripts/install.sh, on free loopback ports,
 * server role only (no console), with auth on when `adminPassword` is given.
 */
export function startNacos(runDir: string, opts: NacosOptions = {}): Promise<NacosServer> {
  ensureInstalled(['nacos']);
  return startWithPortRetry('nacos', () => launchNacos(runDir, opts));
}

async function launchNacos(runDir: string, opts: NacosOptions): Promise<NacosServer> {
  const name = opts.name ?? 'nacos';
  const port = await portBlock();
  const home = path.join(runDir, name);
  const conf = path.join(home, 'conf');
  fs.mkdirSync(conf, { recursive: true });
  const installed = nacosHome();
  fs.copyFileSync(path.join(installed, 'conf', 'nacos-logback.xml'), path.join(conf, 'nacos-logback.xml'));
  const auth = opts.adminPassword !== undefined;
  const props = [
    `nacos.server.main.port=${port}`,
    'nacos.server.contextPath=/nacos',
    'nacos.deployment.type=server',
    // Nacos deletes a service once it has had no instances for expired-time (checked every interval; defaults 60 s
    // and 60 s): short here, so tests see a service vanish in seconds.
    `nacos.naming.clean.empty-service.interval=${opts.emptyServiceCleanMs ?? 2000}`,
    `nacos.naming.clean.empty-service.expired-time=${opts.emptyServiceCleanMs ?? 2000}`,
    ...(opts.pushTaskDelayMs !== undefined ? [`nacos.naming.push.pushTaskDelay=${opts.pushTaskDelayMs}`] : []),
    'nacos.istio.mcp.server.enabled=false',
    'nacos.k8s.sync.enabled=false',
    // Embedded Derby creates its database at the first start: slower than Nacos's 3 s pool timeout on a busy machine.
    'db.pool.config.connectionTimeout=60000',
    'server.tomcat.accesslog.enabled=false',
    'server.tomcat.basedir=file:.',
    'server.error.include-message=ALWAYS',
    'management.metrics.export.elastic.enabled=false',
    'management.metrics.export.influx.enabled=false',
    'nacos.core.auth.system.type=nacos',
    `nacos.core.auth.enabled=${auth}`,
    'nacos.core.auth.admin.enabled=true',
    'nacos.core.auth.caching.enabled=true',
    'nacos.core.auth.server.identity.key=meshbridge-test',
    'nacos.core.auth.server.identity.value=meshbridge-test',
    `nacos.core.auth.plugin.nacos.token.secret.key=${crypto.randomBytes(32).toString('base64')}`,
    'nacos.core.auth.plugin.nacos.token.expire.seconds=18000',
  ];
  fs.writeFileSync(path.join(conf, 'application.properties'), `${props.join('\n')}\n`);
  const address = `http://127.0.0.1:${port}`;
  let proc!: ManagedProcess;
  let token: string | undefined;
  const login = async (): Promise<string | undefined> => {
    if (!auth) return undefined;
    if (token) return token;
    const res = await fetch(`${address}/nacos/v3/auth/user/login`, {
      method: 'POST',
      body: new URLSearchParams({ username: 'nacos', password: opts.adminPassword! }),
    });
    if (!res.ok) throw new Error(`nacos login: HTTP ${res.status} ${await res.text()}`);
    token = ((await res.json()) as { accessToken: string }).accessToken;
    return token;
  };
  const launch = async () => {
    token = undefined;
    proc = new ManagedProcess({
      name,
      command: 'java',
      logDir: runDir,
      cwd: home,
      args: [
        `-Xms${opts.heap ?? '512m'}`,
        `-Xmx${opts.heap ?? '512m'}`,
        '-XX:TieredStopAtLevel=1',
        '-XX:-OmitStackTraceInFastThrow',
        '-Dnacos.standalone=true',
        '-DembeddedStorage=true',
        '-Dnacos.functionMode=naming',
        '-Dnacos.deployment.type=server',
        `-Dnacos.home=${home}`,
        '-Dnacos.preferHostnameOverIp=false',
        '-Dnacos.server.ip=127.0.0.1',
        '-jar',
        path.join(installed, 'target', 'nacos-server.jar'),
        `--spring.config.additional-location=file:${conf}/`,
        `--logging.config=${conf}/nacos-logback.xml`,
      ],
    });
    result.proc = proc;
    await readyOrStop(proc, () =>
      waitFor(
        async () => {
          proc.assertRunning();
          if (/Address already in use|BindException/.test(proc.tail(200)))
            throw Object.assign(new Error('BindException: a Nacos port was taken'), { fatal: true });
          // The naming module answers over gRPC: the collector's own path is the readiness probe.
          if (auth) await initAdmin(address, opts.adminPassword!);
          const t = await login();
          const conn = new NacosConnection({
            target: `127.0.0.1:${port + 1000}`,
            token: () => t,
            requestTimeoutMs: 3000,
          });
          try {
            await conn.open();
            await conn.request('ServiceListRequest', {
              namespace: 'public',
              groupName: 'DEFAULT_GROUP',
              pageNo: 1,
              pageSize: 1,
            });
            return true;
          } finally {
            conn.close();
          }
        },
        { what: `nacos on :${port} (log ${proc.logFile}, ${home}/logs)`, timeoutMs: 180_000, intervalMs: 500 },
      ),
    );
  };
  const result: NacosServer = {
    httpPort: port,
    grpcPort: port + 1000,
    address,
    username: auth ? 'nacos' : undefined,
    password: opts.adminPassword,
    proc: undefined as unknown as ManagedProcess,
    token: login,
    async restart() {
      await proc.stop();
      await launch();
    },
    stop: () => proc.stop(),
  };
  await launch();
  return result;
}

/** Nacos 3 starts with auth on but no admin password: the first call sets it (later calls answer 409 or similar). */
async function initAdmin(address: string, password: string): Promise<void> {
  const res = await fetch(`${address}/nacos/v3/auth/user/admin`, {
    method: 'POST',
    body: new URLSearchParams({ password }),
  });
  if (res.status >= 500 && res.status !== 409) throw new Error(`nacos admin init: HTTP ${res.status}`);
}
