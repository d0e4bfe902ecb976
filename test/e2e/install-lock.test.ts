import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeRunDir, projectRoot } from '../../harness/paths.ts';
import { waitFor } from '../../harness/wait.ts';

/**
 * .ci/run builds the deployment tests' servers in the background while the other tests run, and a deployment test
 * that needs one of them runs scripts/install.sh for it too. Two installs of one target at once would build it twice
 * into the same directory; install.sh holds a per-target lock instead, and the later one waits. Proven on the real
 * script with the cheapest target (redis: Debian's package, already installed) and a cache of the test's own.
 */
describe('scripts/install.sh: one install of a target at a time', { timeout: 60_000 }, () => {
  const install = path.join(projectRoot, 'scripts', 'install.sh');

  function runInstall(cache: string): Promise<{ code: number | null; stderr: string; endedAt: number }> {
    return new Promise((resolve) => {
      const child = spawn(install, ['redis'], { env: { ...process.env, MESHBRIDGE_CACHE: cache } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('exit', (code) => resolve({ code, stderr, endedAt: Date.now() }));
    });
  }

  it('given no other install, when it installs a target, then it does not wait', async () => {
    const cache = makeRunDir('e2e-install-lock-free');
    const got = await runInstall(cache);
    assert.equal(got.code, 0, got.stderr);
    assert.doesNotMatch(got.stderr, /waiting/);
    assert.match(got.stderr, /redis: v=/);
  });

  it('given another process holds the target, when it installs it, then it waits, says so, and goes on after', async () => {
    const cache = makeRunDir('e2e-install-lock-held');
    const lock = path.join(cache, '.locks', 'redis.lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    const holder = spawn('flock', [lock, 'sleep', '3'], { stdio: 'ignore' });
    const holderEnded = new Promise<number>((resolve) => holder.on('exit', () => resolve(Date.now())));
    await waitFor(() => spawnSync('flock', ['-n', lock, 'true']).status !== 0, {
      what: 'the holder taking the lock',
      timeoutMs: 10_000,
    });

    const got = await runInstall(cache);
    const releasedAt = await holderEnded;
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stderr, /redis: another scripts\/install\.sh is installing it; waiting for it to finish/);
    assert.ok(got.endedAt >= releasedAt, `install ended ${releasedAt - got.endedAt} ms before the holder let go`);
    assert.ok(
      got.stderr.indexOf('waiting') < got.stderr.indexOf('redis: v='),
      'the install ran after the wait, not beside it',
    );
  });
});
