import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { ensureInstalled } from '../../harness/install.ts';
import { startZooKeeper, type ZooKeeperServer } from '../../harness/zookeeper.ts';
import { waitFor } from '../../harness/wait.ts';
import { connect, watchChildrenOrCreation, zookeeper, type ZkClient } from '../../services/collector/zk-client.ts';
import { create } from '../../harness/zk-write.ts';

// Found by `meshbridge up`: a registry root created between getChildren (NO_NODE) and exists() left only a data
// watch armed, so every registration under it went unseen until the next periodic resync (5 minutes).
describe('ZooKeeper watch on a node that appears between getChildren and exists (real ZooKeeper)', () => {
  let zk: ZooKeeperServer;
  let a: ZkClient;
  let b: ZkClient;

  before(async () => {
    ensureInstalled(['zookeeper']);
    zk = await startZooKeeper(makeRunDir('e2e-zk-watch-race'));
    [a, b] = await Promise.all([connect(zk.connectString, 10_000), connect(zk.connectString, 10_000)]);
  });
  after(async () => {
    a?.close();
    b?.close();
    await zk?.stop();
  });

  it('reads the children and arms a children watch, so the next registration is seen', async () => {
    const path = '/race-root';
    // A client whose exists() first lets another session create the node: the race, made deterministic.
    const racing = Object.create(a) as ZkClient;
    (racing as unknown as { exists: ZkClient['exists'] }).exists = ((
      p: string,
      w: () => void,
      cb: (e: unknown, s: unknown) => void,
    ) => {
      b.create(p, zookeeper.CreateMode.PERSISTENT, () => a.exists(p, w, cb as never));
    }) as unknown as ZkClient['exists'];
    let fired = 0;
    const res = await watchChildrenOrCreation(racing, path, () => fired++);
    assert.deepEqual(res?.children, [], 'the node that appeared is read, not reported missing');
    await create(b, `${path}/org.example.Svc`, zookeeper.CreateMode.PERSISTENT);
    await waitFor(() => fired === 1, { what: 'children watch firing for the new child', timeoutMs: 10_000 });
  });

  it('arms a creation watch when the node really does not exist', async () => {
    let fired = 0;
    assert.equal(await watchChildrenOrCreation(a, '/absent-root', () => fired++), undefined);
    await create(b, '/absent-root', zookeeper.CreateMode.PERSISTENT);
    await waitFor(() => fired === 1, { what: 'creation watch firing', timeoutMs: 10_000 });
  });
});
