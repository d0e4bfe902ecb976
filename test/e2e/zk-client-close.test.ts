import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRunDir } from '../../harness/paths.ts';
import { startZooKeeper, type ZooKeeperServer } from '../../harness/zookeeper.ts';
import { waitFor } from '../../harness/wait.ts';
import { closeClient, connect, getChildren, statOf, zookeeper } from '../../services/collector/zk-client.ts';
import { MeshbridgeError } from '../../services/shared/errors.ts';

/**
 * node-zookeeper-client keeps a request made while it is disconnected in its send queue, and close() never answers
 * it. The collector replaces a client whose session is gone; a re-read reading at that moment must fail (and be
 * retried on the new session), not wait forever — it did, and every later re-read waited on it (a ZooKeeper restart
 * in test/e2e/collector-bad-input.test.ts caught it).
 */
describe('a ZooKeeper client closed while ZooKeeper is away', { timeout: 60_000 }, () => {
  let zk: ZooKeeperServer;
  let runDir: string;

  before(async () => {
    runDir = makeRunDir('e2e-zk-client-close');
    zk = await startZooKeeper(runDir);
  });
  after(async () => {
    await zk.stop();
  });

  it('given reads queued while disconnected, closing the client fails each of them with a retriable error', async () => {
    const client = await connect(zk.connectString, 4000);
    assert.ok(await statOf(client, '/'), 'the root exists while connected');
    let disconnected = false;
    client.on('state', (s) => {
      if (String(s).startsWith('DISCONNECTED')) disconnected = true;
    });
    await zk.stop();
    await waitFor(() => disconnected, { what: 'the client noticing ZooKeeper is gone', timeoutMs: 15_000 });

    const reads = [getChildren(client, '/'), statOf(client, '/zookeeper')];
    // Unanswered while ZooKeeper is away: neither settles on its own.
    const settled = await Promise.race([
      Promise.allSettled(reads).then(() => true),
      new Promise((r) => setTimeout(() => r(false), 1000)),
    ]);
    assert.equal(settled, false, 'reads made while disconnected wait for a reconnect');

    const closedAt = performance.now();
    closeClient(client, 'session replaced');
    const outcomes = await Promise.allSettled(reads);
    assert.ok(performance.now() - closedAt < 1000, 'failed at once, not after a timeout');
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      const e = (o as PromiseRejectedResult).reason as MeshbridgeError;
      assert.ok(e instanceof MeshbridgeError, String(e));
      assert.equal(e.code, 'ZOOKEEPER_CLIENT_CLOSED');
      assert.equal(e.retriable, true);
      assert.match(e.message, /abandoned: its client was closed \(session replaced\)/);
    }
    closeClient(client, 'again'); // a second close is a no-op
    zk = await startZooKeeper(runDir, { port: zk.port });
  });

  it('given a connected client, its answered reads are unaffected by closing it later', async () => {
    const client = await connect(zk.connectString, 4000);
    const res = await getChildren(client, '/');
    assert.ok(res?.children.includes('zookeeper'), JSON.stringify(res?.children));
    closeClient(client, 'done');
    await assert.rejects(getChildren(client, '/'), /abandoned: its client was closed \(already closed\)/);
    // Underneath, the closed client answers at once with an error it does not retry: its own CONNECTION_LOSS retries
    // (1,000, backing off to the session timeout) kept a timer alive for an hour per abandoned request.
    const code = await new Promise<number | undefined>((resolve) => {
      client.getChildren('/', (e) => resolve((e as { getCode?: () => number } | null)?.getCode?.()));
      setTimeout(() => resolve(undefined), 500).unref();
    });
    assert.equal(code, zookeeper.Exception.SESSION_EXPIRED);
  });
});
