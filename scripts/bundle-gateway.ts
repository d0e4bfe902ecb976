/**
 * `npm run build`, second step: the gateway role as one file plus a V8 code cache for it.
 *
 * Start → ready is mostly loading code: ~450 modules (grpc-js, ioredis, prom-client, pino, zod, yaml) resolved, read
 * and evaluated one by one cost ~40 % of the CPU time to the first complete response, and compiling what remains a
 * good part of the rest (docs/gateway.md, "Start-up and memory"). So:
 * - bin/gateway-role.ts and everything it loads, dependencies included, become one CommonJS file,
 *   dist/bin/gateway-role.bundle.cjs (CommonJS because V8's code cache applies to a classic script, `vm.Script`);
 * - bin/gateway-role-loader.ts becomes dist/bin/gateway-role.js (overwriting tsc's output for that file, so
 *   `meshbridge gateway` in dist/ — the image — goes through it): it compiles the bundle with the cache;
 * - the cache, dist/bin/gateway-role.bundle.cache, is written by running the loader's writeCodeCache under the flags
 *   the image's launcher gives the role (V8 refuses a cache written under other flags or by another Node binary: in
 *   the image it is written by the image's own Node, in its build stage).
 *
 * What stays outside the bundle: Node's built-ins, and the MCP schemas (protobufjs and the .proto files, read at run
 * time next to the compiled code), which only the first `/debug/resources` loads.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ROLE_NODE_FLAGS } from '../harness/role-node-flags.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binDir = path.join(root, 'dist', 'bin');
const MCP_ENVELOPE = '../schemas/mcp-envelope.js';

const bundleFile = path.join(binDir, 'gateway-role.bundle.cjs');
await build({
  entryPoints: [path.join(root, 'bin', 'gateway-role.ts')],
  outfile: bundleFile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Smaller source to parse and keep in memory (~1.4 vs 2.8 MB); names are kept so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  plugins: [
    {
      name: 'mcp-schemas-outside',
      setup(b) {
        // From dist/bin/, the compiled module next to its .proto files.
        b.onResolve({ filter: /\/schemas\/mcp-envelope\.ts$/ }, () => ({ path: MCP_ENVELOPE, external: true }));
      },
    },
  ],
});
// A classic script has no import() of its own without an experimental vm API, so that one import goes through the
// function the loader hands the bundle (an ES module's import(), relative to the bundle).
const text = fs.readFileSync(bundleFile, 'utf8');
const site = `import(${JSON.stringify(MCP_ENVELOPE)})`;
if (text.split(site).length !== 2) throw new Error(`${bundleFile}: expected exactly one ${site}`);
fs.writeFileSync(bundleFile, text.replace(site, `__mbImport(${JSON.stringify(MCP_ENVELOPE)})`));

await build({
  entryPoints: [path.join(root, 'bin', 'gateway-role-loader.ts')],
  outfile: path.join(binDir, 'gateway-role.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
});

// What builds before this one wrote for the role (an ES module bundle and its map), so dist/ holds only what runs.
for (const f of ['gateway-role.js.map', 'gateway-role.js.LEGAL.txt']) fs.rmSync(path.join(binDir, f), { force: true });

const bytes = execFileSync(
  process.execPath,
  [
    ...ROLE_NODE_FLAGS.gateway,
    '--input-type=module',
    '-e',
    `const m = await import(${JSON.stringify(path.join(binDir, 'gateway-role.js'))}); console.log(m.writeCodeCache());`,
  ],
  { encoding: 'utf8' },
).trim();
console.log(`gateway role: bundle and code cache (${(Number(bytes) / 1024 / 1024).toFixed(1)} MiB) in ${binDir}`);
