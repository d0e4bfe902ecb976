import { zookeeper, type ZkClient } from '../services/collector/zk-client.ts';

/** ZooKeeper writes for the harness, tests, benchmarks and the demo provider (the collector only reads). */
/** Creates a znode and its parents. */
export function mkdirp(client: ZkClient, path: string): Promise<void> {
  return new Promise((resolve, reject) => client.mkdirp(path, (e) => (e ? reject(e) : resolve())));
}

export function create(client: ZkClient, path: string, mode: number = zookeeper.CreateMode.EPHEMERAL): Promise<void> {
  return new Promise((resolve, reject) => client.create(path, mode, (e) => (e ? reject(e) : resolve())));
}

export function remove(client: ZkClient, path: string): Promise<void> {
  return new Promise((resolve, reject) => client.remove(path, (e) => (e ? reject(e) : resolve())));
}

/** Creates a znode with data (Dubbo 3 application-level instances). */
export function createWithData(
  client: ZkClient,
  path: string,
  data: Buffer,
  mode: number = zookeeper.CreateMode.EPHEMERAL,
): Promise<void> {
  return new Promise((resolve, reject) => client.create(path, data, mode, (e) => (e ? reject(e) : resolve())));
}

export function setData(client: ZkClient, path: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => client.setData(path, data, -1, (e) => (e ? reject(e) : resolve())));
}
