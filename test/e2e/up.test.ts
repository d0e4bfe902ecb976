import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../harness/paths.ts';

// The README's first command, as a user runs it: the executable, not the harness functions.
describe("meshbridge up (the README's first command)", () => {
  it('starts everything, shows the ServiceEntry istiod holds and the endpoints it hands a sidecar, and stops cleanly', async () => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'meshbridge.js'), 'up', '--once'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /istiod holds/);
    assert.match(out, /kind: ServiceEntry/);
    assert.match(out, /- org\.apache\.dubbo\.demo\.demoservice/);
    assert.match(out, /cluster {2}outbound\|20880\|\|org\.apache\.dubbo\.demo\.demoservice/);
    assert.match(out, /endpoint 127\.0\.0\.1:20880/);
    assert.match(out, /endpoint 127\.0\.0\.2:20880/);
    assert.match(out, /stopped everything/);
  });
});
