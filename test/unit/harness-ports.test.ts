import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { freePort, startWithPortRetry } from '../../harness/ports.ts';

describe('harness ports', () => {
  it("are below the kernel's ephemeral range, bindable, and never handed out twice by one process", async () => {
    const ephemeralStart = Number(
      fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    assert.equal(new Set(ports).size, 50);
    for (const p of ports) assert.ok(p >= 20_000 && p < ephemeralStart, `${p} outside 20000..${ephemeralStart - 1}`);
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(ports[0], '127.0.0.1', resolve));
    srv.close();
  });

  it('a start that lost its port to another listener is retried on new ports; any other failure is not', async () => {
    let calls = 0;
    const v = await startWithPortRetry('test', async () => {
      if (++calls === 1)
        throw new Error(
          'redis exited (code 1); log:\n# Could not create server TCP listening socket 127.0.0.1:29000: bind: Address already in use',
        );
      return 'up';
    });
    assert.equal(v, 'up');
    assert.equal(calls, 2);
    let other = 0;
    await assert.rejects(
      startWithPortRetry('test', async () => {
        other++;
        throw new Error('timed out waiting for redis');
      }),
      /timed out/,
    );
    assert.equal(other, 1);
    let always = 0;
    await assert.rejects(
      startWithPortRetry('test', async () => {
        always++;
        throw new Error('java.net.BindException: Address already in use');
      }),
      /BindException/,
    );
    assert.equal(always, 3);
  });
});
