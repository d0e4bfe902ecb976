import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort } from '../../harness/ports.ts';
import { fourLetter } from '../../harness/zookeeper.ts';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/**
 * The harness asks ZooKeeper `ruok` until it says `imok`. A ZooKeeper still loading its database answers but fails to
 * close the socket (NullPointerException in its ServerCnxn); a probe that waited for the socket's end hung the start
 * of a restarted server for good. Here a peer that behaves that way: it answers and never closes.
 */
describe('fourLetter against a server that answers and never closes', { timeout: 10_000 }, () => {
  let server: net.Server;
  let port: number;
  const sockets = new Set<net.Socket>();
  before(async () => {
    server = net.createServer((s) => {
      sockets.add(s);
      s.on('data', () => s.write('imok'));
    });
    port = await listen(server);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('gives up after its deadline with no answer, so the caller probes again', async () => {
    const t = performance.now();
    assert.equal(await fourLetter(port, 'ruok', 300), '');
    const took = performance.now() - t;
    assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
  });

  it('answers as soon as a server closes the socket after answering', async () => {
    const closing = net.createServer((s) => s.on('data', () => s.end('imok')));
    const closingPort = await listen(closing);
    try {
      assert.equal(await fourLetter(closingPort, 'ruok', 5000), 'imok');
    } finally {
      await new Promise((r) => closing.close(r));
    }
  });

  it('is empty when nothing listens', async () => {
    assert.equal(await fourLetter(await freePort(), 'ruok'), '');
  });
});
