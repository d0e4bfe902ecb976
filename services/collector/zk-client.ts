import zookeeper from 'node-zookeeper-client';
import type { Exception, Stat } from 'node-zookeeper-client';

export type ZkClient = ReturnType<typeof zookeeper.createClient>;
export { zookeeper };

/**
 * Promise wrappers over node-zookeeper-client, with one-shot watches. NO_NODE is an answer (undefined), not an error.
 *
 * `watch` is registered as it is, never wrapped in a closure made here: a closure made inside the promise's executor
 * shares the executor's context, which holds `resolve` and so the promise and its result. The client keeps a watcher
 * until it fires, so every interface's last reply stayed alive with it: at 10,000 interfaces × 10, 100,000 provider
 * znode names (33.5 MiB of the collector's 144 MiB heap). Registered as is, a caller's stable watcher (one per
 * interface) is also registered once per path however often the path is read before it fires (the client compares
 * watchers by identity); a fresh wrapper per read was one more listener each time.
 */
export function getChildren(
  client: ZkClient,
  path: string,
  watch?: () => void,
): Promise<{ children: string[]; stat: Stat } | undefined> {
  return new Promise((resolve, reject) => {
    const cb = (e: Error | Exception | null, children: string[], stat: Stat) => {
      if (e) {
        if ((e as { getCode?: () => number }).getCode?.() === zookeeper.Exception.NO_NODE) resolve(undefined);
        else reject(e);
      } else resolve({ children, stat });
    };
    if (watch) client.getChildren(path, watch, cb);
    else client.getChildren(path, cb);
  });
}

/**
 * A znode's stat without reading it; undefined when the node does not exist. With `watch`, a one-shot watch for its
 * creation, deletion or data change (used when an interface has no providers node yet).
 */
export function statOf(client: ZkClient, path: string, watch?: () => void): Promise<Stat | undefined> {
  return new Promise((resolve, reject) => {
    const cb = (e: Error | Exception | null, stat: Stat | null) => (e ? reject(e) : resolve(stat ?? undefined));
    if (watch) client.exists(path, watch, cb);
    else client.exists(path, cb);
  });
}

/**
 * The children of `path` with a children watch, or — when the node does not exist — undefined with a creation watch.
 * Either way exactly one watch is armed. The node can appear between the two calls: then exists() only arms a data
 * watch, which never reports children, so we read the children again instead of missing them until the next resync.
 */
export async function watchChildrenOrCreation(
  client: ZkClient,
  path: string,
  watch: () => void,
): Promise<{ children: string[]; stat: Stat } | undefined> {
  for (;;) {
    const res = await getChildren(client, path, watch);
    if (res) return res;
    if (!(await statOf(client, path, watch))) return undefined;
  }
}

/** A ZooKeeper zxid (8-byte big-endian) as a number: the registry's ordering token. */
export const zxid = (b: Buffer): number => Number(b.readBigInt64BE(0));

export function connect(connectString: string, sessionTimeout: number): Promise<ZkClient> {
  const client = zookeeper.createClient(connectString, { sessionTimeout, spinDelay: 500, retries: 1000 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`cannot reach ZooKeeper at ${connectString} within 15 s`));
    }, 15_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

/** Reads a znode's data with a one-shot data watch; undefined when the node does not exist. */
export function getData(
  client: ZkClient,
  path: string,
  watch?: () => void,
): Promise<{ data: Buffer | undefined; stat: Stat } | undefined> {
  return new Promise((resolve, reject) => {
    const cb = (e: Error | Exception | null, data: Buffer, stat: Stat) => {
      if (e) {
        if ((e as { getCode?: () => number }).getCode?.() === zookeeper.Exception.NO_NODE) resolve(undefined);
        else reject(e);
      } else resolve({ data: data ?? undefined, stat });
    };
    if (watch) client.getData(path, watch, cb);
    else client.getData(path, cb);
  });
}
