import path from 'node:path';
import { projectRoot } from './paths.ts';
import type { Role } from './stack.ts';

/**
 * The flags the image's launcher (deploy/docker/meshbridge.sh) gives node for each role, which every deployment of
 * the image (docker-compose, the Helm chart) runs with. The local stack, the tests and the benchmarks start the roles
 * with the same flags, so they run what production runs; test/unit/role-node-flags.test.ts keeps this list and the
 * launcher equal.
 */
export const ROLE_NODE_FLAGS: Readonly<Record<Role, readonly string[]>> = {
  collector: [],
  // A 32 MiB young generation: the fold allocates many short-lived objects (~10% less CPU per event, docs/projector.md).
  projector: ['--max-semi-space-size=32'],
  // A 4 MiB young generation and one forced collection after the first full load (docs/gateway.md, "Start-up and memory").
  gateway: ['--max-semi-space-size=4', '--expose-gc'],
};

/**
 * node's arguments for `meshbridge <command> <args>` as the launcher runs it: the role's flags (none for other
 * commands, like the launcher's `*` line) unless `node.flags` replaces them, then `node.extra` (e.g. --cpu-prof).
 */
export function meshbridgeArgs(
  command: string,
  args: readonly string[],
  node: { flags?: readonly string[]; extra?: readonly string[] } = {},
): string[] {
  const roleFlags = (ROLE_NODE_FLAGS as Readonly<Record<string, readonly string[]>>)[command] ?? [];
  return [
    ...(node.flags ?? roleFlags),
    ...(node.extra ?? []),
    path.join(projectRoot, 'bin', 'meshbridge.js'),
    command,
    ...args,
  ];
}
