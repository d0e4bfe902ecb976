import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROLE_NODE_FLAGS } from '../../harness/role-node-flags.ts';
import { projectRoot } from '../../harness/paths.ts';

/** The node flags of each `role) exec node <flags> …cli.js` line of the image's launcher. */
function launcherFlags(): Map<string, string[]> {
  const script = fs.readFileSync(path.join(projectRoot, 'deploy', 'docker', 'meshbridge.sh'), 'utf8');
  const flags = new Map<string, string[]>();
  for (const m of script.matchAll(/^\s*([a-z*]+)\) exec node ((?:--\S+ )*)\S*cli\.js/gm))
    flags.set(m[1]!, m[2]!.trim().split(' ').filter(Boolean));
  return flags;
}

describe('the roles run with the launcher node flags everywhere', () => {
  it('the harness gives each role exactly what deploy/docker/meshbridge.sh gives it', () => {
    const launcher = launcherFlags();
    assert.deepEqual(launcher.get('*'), [], 'other commands run with no node flags');
    for (const [role, flags] of Object.entries(ROLE_NODE_FLAGS))
      assert.deepEqual(launcher.get(role) ?? [], [...flags], `${role}: launcher vs harness/role-node-flags.ts`);
    for (const role of launcher.keys())
      assert.ok(role === '*' || role in ROLE_NODE_FLAGS, `launcher line for an unknown role: ${role}`);
  });
});
