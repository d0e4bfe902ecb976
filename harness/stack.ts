import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import YAML from 'yaml';
import { ensureInstalled, type Server } from './install.ts';
import { startKafka, type KafkaServer } from './kafka.ts';
import { startRedis, type RedisServer } from './redis.ts';
import { startZooKeeper, type ZooKeeperServer } from './zookeeper.ts';
import { startIstiod, type IstiodServer } from './istiod.ts';
import { ManagedProcess } from './process.ts';
import { DEFAULT_GATEWAY_SHARDS } from '../services/shared/config.ts';
import { freeConsecutivePorts, freePort, isListening } from './ports.ts';
import { meshbridgeArgs } from './role-node-flags.ts';
import { waitFor } from './wait.ts';

export interface Servers {
  kafka: KafkaServer;
  redis: RedisServer;
  zookeeper: ZooKeeperServer;
  runDir: string;
  stop(): Promise<void>;
}

/**
 * Starts servers in parallel; if any start fails, stops the ones that did start (a failed start leaks no servers)
 * and rethrows the first failure.
 */
export async function startAllOrNone<T extends readonly Promise<{ stop(): Promise<void> }>[]>(
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const started = await Promise.allSettled(starts);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** Installs (if missing) and starts Kafka, Redis and ZooKeeper on free loopback ports, in parallel. */
export async function startServers(runDir: string, opts: { istiod?: boolean } = {}): Promise<Servers> {
  const needed: Server[] = ['redis', 'zookeeper', 'kafka', ...(opts.istiod ? ['istiod' as const] : [])];
  ensureInstalled(needed);
  const [kafka, redis, zookeeper] = await startAllOrNone([
    startKafka(runDir),
    startRedis(runDir),
    startZooKeeper(runDir),
  ] as const);
  const servers: Servers = {
    kafka,
    redis,
    zookeeper,
    runDir,
    // The handles as they are now: a test that restarts a server replaces its handle, and the new one is stopped.
    async stop() {
      await Promise.all([servers.kafka.stop(), servers.redis.stop(), servers.zookeeper.stop()]);
    },
  };
  return servers;
}

export type Role = 'collector' | 'projector' | 'gateway';

export interface Pipeline {
  configFile: string;
  config: Record<string, any>;
  ports: {
    gatewayGrpc: number;
    gatewayGrpcs: number[];
    collectorHttp: number;
    projectorHttp: number;
    gatewayHttp: number;
  };
  procs: Partial<Record<Role, ManagedProcess>>;
  start(
    role: Role,
    /**
     * nodeFlags: node's flags for the role instead of the image launcher's (harness/role-node-flags.ts), for a
     * benchmark that measures others; nodeArgs: added to them (e.g. --cpu-prof, which NODE_OPTIONS refuses).
     */
    opts?: { name?: string; env?: NodeJS.ProcessEnv; nodeFlags?: readonly string[]; nodeArgs?: string[] },
  ): Promise<ManagedProcess>;
  stop(): Promise<void>;
}

/**
 * Writes a config with a unique topic and Redis prefix (suites share one set of servers) and starts meshbridge roles
 * as real child processes of the `meshbridge` executable.
 */
export async function pipeline(
  servers: Servers,
  overrides: { sources?: unknown[]; kafka?: Record<string, unknown>; gateway?: Record<string, unknown> } = {},
): Promise<Pipeline> {
  const id = crypto.randomBytes(4).toString('hex');
  const shards = Number(overrides.gateway?.shards ?? DEFAULT_GATEWAY_SHARDS);
  const gatewayGrpc = await freeConsecutivePorts(shards);
  const ports = {
    gatewayGrpc,
    gatewayGrpcs: Array.from({ length: shards }, (_, i) => gatewayGrpc + i),
    collectorHttp: await freePort(),
    projectorHttp: await freePort(),
    gatewayHttp: await freePort(),
  };
  const config = {
    kafka: {
      brokers: servers.kafka.brokers,
      topic: `meshbridge.events.${id}`,
      deadLetterTopic: `meshbridge.dlq.${id}`,
      partitions: 3,
      ...overrides.kafka,
    },
    redis: { url: servers.redis.url, prefix: `mb-${id}` },
    // Registry, providers and clients all run on this one machine, so providers register loopback addresses: every
    // source here allows them unless it says otherwise (a test of the production default sets allowLoopback: false).
    sources: (
      overrides.sources ?? [
        {
          id: 'zk1',
          kind: 'zookeeper-dubbo',
          connect: servers.zookeeper.connectString,
          root: `/dubbo-${id}`,
          sessionTimeoutMs: 4000,
        },
      ]
    ).map((s) => ({ allowLoopback: true, ...(s as Record<string, unknown>) })),
    collector: { httpPort: ports.collectorHttp },
    projector: { httpPort: ports.projectorHttp, groupId: `projector-${id}` },
    gateway: {
      grpcHost: '127.0.0.1',
      grpcPort: ports.gatewayGrpc,
      httpPort: ports.gatewayHttp,
      shards,
      ...overrides.gateway,
    },
  };
  const configFile = path.join(servers.runDir, `meshbridge-${id}.yaml`);
  fs.writeFileSync(configFile, YAML.stringify(config));
  const procs: Pipeline['procs'] = {};
  const httpPort = (role: Role) =>
    role === 'collector' ? ports.collectorHttp : role === 'projector' ? ports.projectorHttp : ports.gatewayHttp;
  return {
    configFile,
    config,
    ports,
    procs,
    async start(role, opts = {}) {
      const proc = new ManagedProcess({
        name: opts.name ?? `${role}-${id}`,
        command: process.execPath,
        args: meshbridgeArgs(role, ['--config', configFile], { flags: opts.nodeFlags, extra: opts.nodeArgs }),
        env: { MESHBRIDGE_LOG_LEVEL: 'debug', ...opts.env },
        logDir: servers.runDir,
      });
      procs[role] = proc;
      const port = Number(opts.env?.[`MESHBRIDGE_${role.toUpperCase()}_HTTP_PORT`] ?? httpPort(role));
      await waitFor(
        async () => {
          proc.assertRunning();
          const res = await fetch(`http://127.0.0.1:${port}/healthz`);
          if (!res.ok) return false;
          if (role === 'gateway')
            return isListening(Number(opts.env?.MESHBRIDGE_GATEWAY_GRPC_PORT ?? ports.gatewayGrpc));
          return true;
        },
        { what: `meshbridge ${role} (log ${proc.logFile})`, timeoutMs: 60_000, intervalMs: 100 },
      );
      return proc;
    },
    async stop() {
      await Promise.all(Object.values(procs).map((p) => p!.stop()));
    },
  };
}

/** istiod reading the gateway's shard ports (one config source each) on loopback. */
export async function startIstiodFor(
  servers: Servers,
  gatewayGrpcPorts: number | number[],
  opts: { readyTimeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<IstiodServer> {
  return startIstiod(
    servers.runDir,
    [gatewayGrpcPorts].flat().map((p) => `xds://127.0.0.1:${p}`),
    opts,
  );
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}
