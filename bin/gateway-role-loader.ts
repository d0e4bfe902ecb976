import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

/**
 * What `dist/bin/gateway-role.js` is in a build: loads the gateway role's single-file bundle (CommonJS,
 * `gateway-role.bundle.cjs`, scripts/bundle-gateway.ts) with the V8 code cache `npm run build` wrote beside it, so a
 * gateway start skips parsing and compiling the ~2 MB bundle and the functions its start-up runs (docs/gateway.md,
 * "Start-up and memory"). The cache is only an accelerator: absent, or refused by V8 (another Node binary or other V8
 * flags than those it was written with), the bundle compiles from source as before, and the start-up log says which.
 *
 * Only Node's built-ins are imported here: this file is the first thing a gateway evaluates.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const BUNDLE = path.join(here, 'gateway-role.bundle.cjs');
const CACHE = path.join(here, 'gateway-role.bundle.cache');

/** What the bundle exports (bin/gateway-role.ts). */
interface GatewayRoleBundle {
  runGatewayRole(configFile: string | undefined, codeCache?: CodeCacheUse): Promise<void>;
  warmUp(): void;
}

/** How the bundle was compiled: with the cache, without one, or with one V8 refused. */
export type CodeCacheUse = 'used' | 'absent' | 'rejected';

function compile(cachedData: Buffer | undefined): { script: vm.Script; bundle: GatewayRoleBundle } {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  // CommonJS's module wrapper, on the bundle's first line so stack traces keep its line numbers, plus the import()
  // the bundle's one dynamic import of an ES module goes through (scripts/bundle-gateway.ts).
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __mbImport) {${source}\n})`,
    {
      filename: BUNDLE,
      ...(cachedData ? { cachedData } : {}),
    },
  );
  const mod = { exports: {} as GatewayRoleBundle };
  // The MCP schemas stay outside the bundle and are imported on the first /debug/resources.
  const importFromBundle = (specifier: string) => import(new URL(specifier, pathToFileURL(BUNDLE)).href);
  (script.runInThisContext() as (...a: unknown[]) => void)(
    mod.exports,
    createRequire(BUNDLE),
    mod,
    BUNDLE,
    here,
    importFromBundle,
  );
  return { script, bundle: mod.exports };
}

function readCache(): Buffer | undefined {
  try {
    return fs.readFileSync(CACHE);
  } catch {
    return undefined;
  }
}

export function runGatewayRole(configFile: string | undefined): Promise<void> {
  const cachedData = readCache();
  const { script, bundle } = compile(cachedData);
  const use: CodeCacheUse = !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used';
  return bundle.runGatewayRole(configFile, use);
}

/**
 * `npm run build`'s last step, run under the launcher's node flags (V8 refuses a cache written under other flags):
 * compiles the bundle, runs the pure part of a start (configuration parsing and validation) so the functions it
 * compiles are in the cache too, and writes the cache. Returns its size in bytes.
 */
export function writeCodeCache(): number {
  const { script, bundle } = compile(undefined);
  bundle.warmUp();
  const data = script.createCachedData();
  fs.writeFileSync(CACHE, data);
  return data.length;
}
