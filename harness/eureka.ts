import fs from 'node:fs';
import { ensureInstalled, eurekaJar } from './install.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { ManagedProcess, readyOrStop } from './process.ts';
import { waitFor } from './wait.ts';

/** A small JVM: the servers and apps here hold at most a few thousand instances (the benchmark raises the heap). */
const JVM = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xss512k'];

/**
 * Settings that make a Eureka server answer at once, for tests. Production keeps Eureka's defaults, which the docs
 * (docs/collectors.md, "Eureka") describe: a read-only response cache refreshed every 30 s, eviction every 60 s,
 * self-preservation on, and a 5-minute refusal to serve after a start that found no peer data.
 */
const TEST_SETTINGS = [
  '--eureka.server.enable-self-preservation=false',
  '--eureka.server.eviction-interval-timer-in-ms=1000',
  '--eureka.server.use-read-only-response-cache=false',
  '--eureka.server.response-cache-update-interval-ms=1000',
  // A delta computed while a write lands can be cached after that write's invalidation and then served until the
  // next write or this expiry (Eureka's default: 180 s); measured by bench:eureka (docs/collectors.md).
  '--eureka.server.response-cache-auto-expiration-in-seconds=5',
  '--eureka.server.wait-time-in-ms-when-sync-empty=0',
  '--eureka.server.registry-sync-retries=0',
  '--eureka.client.register-with-eureka=false',
  '--eureka.client.fetch-registry=false',
  '--spring.jmx.enabled=false',
  '--logging.level.com.netflix.eureka.cluster=ERROR',
];

export interface EurekaPeerServer {
  port: number;
  /** http://127.0.0.1:PORT/eureka — what clients list as a service URL. */
  url: string;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

export interface EurekaCluster {
  peers: EurekaPeerServer[];
  urls: string[];
  stop(): Promise<void>;
}

/**
 * One or several Eureka servers (harness/eureka-server, built by scripts/install.sh) on free loopback ports, each
 * replicating to the others. Peers are told apart by instance host name: Eureka drops a service URL whose host is its
 * own host name from its peers, and every peer here listens on 127.0.0.1.
 */
export async function startEureka(
  runDir: string,
  opts: {
    peers?: number;
    name?: string;
    heap?: string;
    args?: string[];
    /** Require HTTP basic auth as this user (a single peer: peers would need the credentials in their URLs). */
    auth?: { user: string; password: string };
  } = {},
): Promise<EurekaCluster> {
  ensureInstalled(['eureka']);
  const n = opts.peers ?? 1;
  const name = opts.name ?? 'eureka';
  return startWithPortRetry(name, async () => {
    const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
    const urls = ports.map((p) => `http://127.0.0.1:${p}/eureka`);
    const started = await Promise.allSettled(
      ports.map((port, i) =>
        launchPeer(runDir, {
          name: n === 1 ? name : `${name}-${i}`,
          port,
          heap: opts.heap ?? '256m',
          // Alone, the server lists itself (and recognises itself by host name) so it never replicates anywhere else.
          hostname: n === 1 ? '127.0.0.1' : `${name}-peer-${i}`,
          peerUrls: n === 1 ? [urls[0]!] : urls.filter((_, j) => j !== i),
          args: [...(opts.args ?? []), ...authArgs(opts.auth)],
          auth: opts.auth,
        }),
      ),
    );
    const peers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(peers.map((p) => p.stop()));
      throw (failed as PromiseRejectedResult).reason;
    }
    return {
      peers,
      urls,
      stop: async () => {
        await Promise.all(peers.map((p) => p.stop()));
      },
    };
  });
}

function authArgs(auth: { user: string; password: string } | undefined): string[] {
  if (!auth) return [];
  return [
    '--meshbridge.basic-auth=true',
    `--spring.security.user.name=${auth.user}`,
    `--spring.security.user.password=${auth.password}`,
  ];
}

async function launchPeer(
  runDir: string,
  o: {
    name: string;
    port: number;
    heap: string;
    hostname: string;
    peerUrls: string[];
    args: string[];
    auth: { user: string; password: string } | undefined;
  },
): Promise<EurekaPeerServer> {
  const url = `http://127.0.0.1:${o.port}/eureka`;
  const proc = new ManagedProcess({
    name: o.name,
    command: 'java',
    logDir: runDir,
    args: [
      `-Xmx${o.heap}`,
      ...JVM,
      '-jar',
      eurekaJar('eureka-server'),
      `--server.port=${o.port}`,
      '--server.address=127.0.0.1',
      `--eureka.instance.hostname=${o.hostname}`,
      `--eureka.client.service-url.defaultZone=${o.peerUrls.map((u) => `${u}/`).join(',')}`,
      ...TEST_SETTINGS,
      ...o.args,
    ],
  });
  await readyOrStop(proc, () =>
    waitFor(
      async () => {
        proc.assertRunning();
        if (/Address already in use|BindException/.test(proc.tail(50)))
          throw Object.assign(new Error(`${o.name}: BindException: address already in use`), { fatal: true });
        const headers: Record<string, string> = { accept: 'application/json' };
        if (o.auth)
          headers.authorization = `Basic ${Buffer.from(`${o.auth.user}:${o.auth.password}`).toString('base64')}`;
        const res = await fetch(`${url}/apps`, { headers }).catch(() => undefined);
        return res?.ok ? ((await res.json()) as { applications?: unknown }).applications !== undefined : false;
      },
      { what: `Eureka server ${o.name} on :${o.port} (log ${proc.logFile})`, timeoutMs: 180_000, intervalMs: 250 },
    ),
  );
  return { port: o.port, url, proc, stop: () => proc.stop() };
}

export interface EurekaClientApp {
  proc: ManagedProcess;
  app: string;
  port: number;
  instanceId: string;
  stop(): Promise<void>;
}

/**
 * A real Spring Boot web app with Spring Cloud's Eureka client (harness/eureka-client): it registers itself with the
 * given Eureka servers when it starts and cancels its registration on a graceful stop. Ready once it has started.
 */
export async function startEurekaClientApp(
  runDir: string,
  opts: { eurekaUrls: string[]; app: string; port: number; version?: string },
): Promise<EurekaClientApp> {
  ensureInstalled(['eureka']);
  const instanceId = `127.0.0.1:${opts.app}:${opts.port}`;
  const proc = new ManagedProcess({
    name: `eureka-client-${opts.app}-${opts.port}`,
    command: 'java',
    logDir: runDir,
    args: [
      '-Xmx160m',
      ...JVM,
      '-jar',
      eurekaJar('eureka-client'),
      `--server.port=${opts.port}`,
      '--server.address=127.0.0.1',
      `--spring.application.name=${opts.app}`,
      `--eureka.client.service-url.defaultZone=${opts.eurekaUrls.map((u) => `${u}/`).join(',')}`,
      '--eureka.client.fetch-registry=false',
      '--eureka.instance.prefer-ip-address=true',
      '--eureka.instance.ip-address=127.0.0.1',
      `--eureka.instance.instance-id=${instanceId}`,
      `--eureka.instance.metadata-map.version=${opts.version ?? '1.0.0'}`,
      '--spring.jmx.enabled=false',
    ],
  });
  await readyOrStop(proc, () =>
    waitFor(
      () => {
        proc.assertRunning();
        return fs.readFileSync(proc.logFile, 'utf8').includes('Started DemoApp');
      },
      { what: `Eureka client app ${opts.app} (log ${proc.logFile})`, timeoutMs: 180_000, intervalMs: 250 },
    ),
  );
  return { proc, app: opts.app, port: opts.port, instanceId, stop: () => proc.stop() };
}
