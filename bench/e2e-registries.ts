/**
 * The registries bench:e2e writes to (BENCH_REGISTRY): how a service is named, loaded and changed in each, and the
 * meshbridge source that watches it. The benchmark itself — roles, istiod, the sidecar, stage attribution — is the
 * same for every registry.
 */
import fs from 'node:fs';
import type { ManagedProcess } from '../harness/process.ts';
import type { Servers } from '../harness/stack.ts';
import { DubboRegistrar } from '../harness/dubbo-registrar.ts';
import { mkdirp } from '../harness/zk-write.ts';
import { startConsul } from '../harness/consul.ts';
import { ConsulRegistrar } from '../harness/consul-registrar.ts';
import { connect, zookeeper } from '../services/collector/zk-client.ts';
import { createNode } from './support.ts';

export interface BenchRegistry {
  readonly kind: 'zookeeper' | 'consul';
  /** The meshbridge source (config `sources[]` entry) that watches it. */
  readonly source: Record<string, unknown>;
  /** The mesh namespace and port its services get: a ServiceEntry is `namespace/host`, a cluster `outbound|port||host`. */
  readonly namespace: string;
  readonly port: number;
  /** Every benchmark host starts with this (the sidecar follows only those clusters). */
  readonly hostPrefix: string;
  host(i: number): string;
  /** Called once the roles run: an empty registry, so the first resync is instant and istiod ready at once. */
  prepare(): Promise<void>;
  /** The initial load of service i with its instances. */
  load(i: number, addresses: string[]): Promise<void>;
  add(i: number, address: string): Promise<void>;
  remove(i: number, address: string): Promise<void>;
  /** Servers the registry runs on, checked alive while the benchmark waits. */
  readonly procs: ManagedProcess[];
  /**
   * The registry server's own heavy work between two wall-clock times (ms), as it logged it: on a 2-core machine it
   * takes CPU from every stage, so a run's tail is read next to it.
   */
  pauses(fromMs: number, toMs: number): RegistryPause[];
  close(): Promise<void>;
}

export interface RegistryPause {
  what: string;
  /** Seconds after `fromMs` it started. */
  atS: number;
  ms: number;
}

/**
 * ZooKeeper's snapshots in [fromMs, toMs], from its log ("Snapshotting: …" then "Snapshot taken in N ms"; the log's
 * timestamps are the machine's local time). At 500,000 znodes one takes ~2 s of a core.
 */
export function zooKeeperSnapshots(log: string, fromMs: number, toMs: number): RegistryPause[] {
  const out: RegistryPause[] = [];
  for (const m of log.matchAll(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) .*Snapshot taken in (\d+) ms/gm)) {
    const end = new Date(`${m[1]}T${m[2]}.${m[3]}`).getTime();
    const ms = Number(m[4]);
    if (end < fromMs || end - ms > toMs) continue;
    out.push({ what: 'ZooKeeper snapshot', atS: Math.round((end - ms - fromMs) / 100) / 10, ms });
  }
  return out;
}

/** Apache Dubbo providers in ZooKeeper, as Dubbo registers them (one ephemeral URL node per provider). */
export async function zooKeeperRegistry(servers: Servers, id: string): Promise<BenchRegistry> {
  const root = `/dubbo-bench-${id}`;
  const port = 20880;
  const iface = (i: number) => `org.bench.Service${i}`;
  const providerPath = (i: number, address: string) =>
    `${root}/${iface(i)}/providers/${DubboRegistrar.providerUrl(iface(i), address, port)}`;
  const zk = await connect(servers.zookeeper.connectString, 30_000);
  const registrar = await DubboRegistrar.open(servers.zookeeper.connectString, root);
  return {
    kind: 'zookeeper',
    source: {
      id: 'zk-bench',
      kind: 'zookeeper-dubbo',
      connect: servers.zookeeper.connectString,
      root,
      sessionTimeoutMs: 30_000,
    },
    namespace: 'dubbo',
    port,
    hostPrefix: 'org.bench.',
    host: (i) => `org.bench.service${i}`,
    prepare: () => mkdirp(zk, root),
    async load(i, addresses) {
      await createNode(zk, `${root}/${iface(i)}`, zookeeper.CreateMode.PERSISTENT);
      await createNode(zk, `${root}/${iface(i)}/providers`, zookeeper.CreateMode.PERSISTENT);
      await Promise.all(addresses.map((a) => createNode(zk, providerPath(i, a), zookeeper.CreateMode.EPHEMERAL)));
    },
    add: async (i, address) => {
      await registrar.register(iface(i), address, port);
    },
    remove: async (i, address) => {
      await registrar.unregister(providerPath(i, address));
    },
    procs: [servers.zookeeper.proc],
    pauses: (from, to) => zooKeeperSnapshots(fs.readFileSync(servers.zookeeper.proc.logFile, 'utf8'), from, to),
    async close() {
      registrar.close();
      zk.close();
    },
  };
}

/**
 * Services in a Consul catalog, registered as external services (PUT /v1/catalog/register), each instance on a node of
 * its own address with a passing check. The collector holds one blocking query per service, so the agent's
 * per-client connection limit is raised above the service count plus the benchmark's own writes (docs/collectors.md).
 */
export async function consulRegistry(runDir: string, services: number): Promise<BenchRegistry> {
  // The collector's blocking queries and the benchmark's writes (up to 128 at a time, plus the churn) share one client
  // address.
  const consul = await startConsul(runDir, { maxConnsPerClient: services + 1_000 });
  const reg = new ConsulRegistrar(consul.address);
  const port = 8080;
  const name = (i: number) => `bench-svc-${i}`;
  const instance = (i: number, address: string) => ({ service: name(i), id: `${name(i)}-${address}`, address, port });
  return {
    kind: 'consul',
    source: { id: 'consul-bench', kind: 'consul', address: consul.address },
    namespace: 'consul',
    port,
    hostPrefix: 'bench-svc-',
    host: name,
    prepare: async () => undefined,
    async load(i, addresses) {
      for (const a of addresses) await reg.register(instance(i, a));
    },
    add: (i, address) => reg.register(instance(i, address)),
    remove: (i, address) => reg.deregister(instance(i, address)),
    procs: [consul.proc],
    pauses: () => [],
    close: () => consul.stop(),
  };
}
