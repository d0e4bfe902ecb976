/**
 * `npm run build`, second step: the gateway role as one ES module, dist/bin/gateway-role.js (overwriting tsc's
 * output for that file, so `meshbridge gateway` in dist/ — the image — loads the bundle). Start → ready is mostly
 * module loading: ~450 files (grpc-js, ioredis, prom-client, pino, zod, yaml) resolved, read and evaluated one by one
 * cost ~40 % of the CPU time to the first complete response (docs/gateway.md, "Start-up").
 *
 * What stays outside the bundle: Node's built-ins, and the MCP schemas (protobufjs and the .proto files, read at run
 * time next to the compiled code), which only the first `/debug/resources` loads.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [path.join(root, 'bin', 'gateway-role.ts')],
  outfile: path.join(root, 'dist', 'bin', 'gateway-role.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Smaller source to parse and keep in memory (~1.4 vs 2.8 MB); names are kept so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  // The CommonJS dependencies call require() for Node's built-ins; an ES module has no require of its own.
  banner: {
    js: "import { createRequire as __mbRequire } from 'node:module'; const require = __mbRequire(import.meta.url);",
  },
  logLevel: 'warning',
  plugins: [
    {
      name: 'mcp-schemas-outside',
      setup(b) {
        // From dist/bin/, the compiled module next to its .proto files.
        b.onResolve({ filter: /\/schemas\/mcp-envelope\.ts$/ }, () => ({
          path: '../schemas/mcp-envelope.js',
          external: true,
        }));
      },
    },
  ],
});
