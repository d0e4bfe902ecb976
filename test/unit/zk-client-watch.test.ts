import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getChildren, getData, statOf, type ZkClient } from '../../services/collector/zk-client.ts';

/** Records the watcher each call registers and answers at once (node-zookeeper-client's callback shapes). */
function recordingClient() {
  const registered: unknown[] = [];
  const answer =
    (...reply: unknown[]) =>
    (...args: unknown[]) => {
      if (args.length === 3) registered.push(args[1]);
      (args[args.length - 1] as (...r: unknown[]) => void)(null, ...reply);
    };
  const client = {
    getChildren: answer(['p1', 'p2'], { pzxid: Buffer.alloc(8) }),
    getData: answer(Buffer.from('x'), { pzxid: Buffer.alloc(8) }),
    exists: answer({ pzxid: Buffer.alloc(8) }),
  } as unknown as ZkClient;
  return { client, registered };
}

describe('ZooKeeper reads register the caller’s watcher itself', () => {
  it('given a stable watcher, every read registers that same function (no wrapper holding the read’s reply)', async () => {
    const { client, registered } = recordingClient();
    const watch = () => undefined;
    const res = await getChildren(client, '/dubbo/a/providers', watch);
    await getChildren(client, '/dubbo/a/providers', watch);
    await getData(client, '/services/app/10.0.0.1:20880', watch);
    await statOf(client, '/dubbo/b/providers', watch);
    assert.deepEqual(res?.children, ['p1', 'p2']);
    assert.equal(registered.length, 4);
    // The client keeps a watcher until it fires and compares watchers by identity: a wrapper made per read would be
    // one more listener per read, and its closure kept that read's reply alive until the watch fired.
    assert.ok(registered.every((w) => w === watch));
  });

  it('given no watcher, nothing is registered', async () => {
    const { client, registered } = recordingClient();
    await getChildren(client, '/dubbo/a/providers');
    await statOf(client, '/dubbo/a/providers');
    assert.equal(registered.length, 0);
  });
});
