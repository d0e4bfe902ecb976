import zookeeper from 'node-zookeeper-client';
import type { Exception, Stat } from 'node-zookeeper-client';
import { MeshbridgeError } from '../../services/shared/errors.ts';

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
  return request(client, path, (resolve, reject) => {
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
 * Requests still waiting for an answer, per client. node-zookeeper-client never answers a request whose client is
 * closed first: one made while disconnected stays in its send queue (close() fails only requests already sent), and
 * one lost with its connection is retried on CONNECTION_LOSS — up to `retries` (1,000 here), backing off to the
 * session timeout — closed or not. A full re-read that was reading when ZooKeeper went away waited forever, and every
 * later re-read shares the one in flight, so the source never read or watched again (seen after a ZooKeeper restart).
 */
const outstanding = new WeakMap<ZkClient, Set<(why: string) => void>>();
const closed = new WeakSet<ZkClient>();

const abandoned = (path: string, why: string) =>
  new MeshbridgeError(`ZooKeeper request for ${path} abandoned: its client was closed (${why})`, {
    retriable: true,
    code: 'ZOOKEEPER_CLIENT_CLOSED',
    context: { path, why },
  });

/** The client's set of unanswered requests, created (once) with its first request. */
function pendingOf(client: ZkClient): Set<(why: string) => void> {
  let set = outstanding.get(client);
  if (!set) {
    set = new Set();
    outstanding.set(client, set);
  }
  return set;
}

function request<T>(
  client: ZkClient,
  path: string,
  send: (resolve: (v: T) => void, reject: (e: unknown) => void) => void,
): Promise<T> {
  // A closed client would only retry it (see above).
  if (closed.has(client)) return Promise.reject(abandoned(path, 'already closed'));
  const set = pendingOf(client);
  return new Promise<T>((resolve, reject) => {
    const abandon = (why: string) => reject(abandoned(path, why));
    set.add(abandon);
    send(
      (v) => {
        set.delete(abandon);
        resolve(v);
      },
      (e) => {
        set.delete(abandon);
        reject(e);
      },
    );
  });
}

/** Closes a client (once) and fails every request it has not answered yet (see `outstanding`), naming why. */
export function closeClient(client: ZkClient, why: string): void {
  if (closed.has(client)) return;
  closed.add(client);
  const pending = outstanding.get(client);
  outstanding.delete(client);
  client.close();
  endRetries(client);
  for (const abandon of pending ?? []) abandon(why);
}

/**
 * node-zookeeper-client retries a request that failed with CONNECTION_LOSS up to `retries` times, backing off to the
 * session timeout, and a closed client fails every request with CONNECTION_LOSS: each request abandoned with it kept a
 * timer cycling for about an hour (1,000 retries × 4 s), which also kept a process that had nothing else to do from
 * exiting. A closed client now answers SESSION_EXPIRED, which it does not retry, so those loops end at their next try.
 * The client's request queue is internal: if it is not where it was, the loops run out on their own as before.
 */
function endRetries(client: ZkClient): void {
  const manager = (client as unknown as { connectionManager?: { queue?: unknown } }).connectionManager;
  if (!manager || typeof manager.queue !== 'function') return;
  const { create } = zookeeper.Exception as unknown as { create(code: number): Exception };
  manager.queue = (_request: unknown, callback?: (e: Exception) => void) =>
    callback?.(create(zookeeper.Exception.SESSION_EXPIRED));
}

/**
 * A znode's stat without reading it; undefined when the node does not exist. With `watch`, a one-shot watch for its
 * creation, deletion or data change (used when an interface has no providers node yet).
 */
export function statOf(client: ZkClient, path: string, watch?: () => void): Promise<Stat | undefined> {
  return request(client, path, (resolve, reject) => {
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

/**
 * A client with a session, or an error after 15 s without one. `attempts` > 1 tries again with a fresh client each
 * time: node-zookeeper-client can stay stuck when a server that just restarted drops its first connection (seen in CI:
 * no session within 15 s from a server that gave the next client one at once). The harness's registry writers, which
 * reopen after restarting ZooKeeper, ask for that; the collector keeps its own session watchdog.
 */
export async function connect(connectString: string, sessionTimeout: number, attempts = 1): Promise<ZkClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(connectString, sessionTimeout);
    } catch (e) {
      if (attempt >= attempts) {
        throw attempts > 1 ? new Error(`${(e as Error).message} (${attempts} attempts, a fresh client each)`) : e;
      }
    }
  }
}

function connectOnce(connectString: string, sessionTimeout: number): Promise<ZkClient> {
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
  return request(client, path, (resolve, reject) => {
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
