/** The go-control-plane reference config source (bench/reference/), built on demand for the benchmarks that run it. */
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, projectRoot } from '../harness/paths.ts';

const REF_DIR = path.join(projectRoot, 'bench', 'reference');

/** Builds the reference once per source hash into the shared cache (Go's own build and module caches are shared). */
export async function referenceBinary(): Promise<string> {
  const h = crypto.createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) h.update(fs.readFileSync(path.join(REF_DIR, f)));
  const dir = path.join(cacheDir, 'reference', h.digest('hex').slice(0, 16));
  const bin = path.join(dir, 'reference');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  console.log(`building the go-control-plane reference into ${dir} (a cold build takes a few minutes)`);
  const t0 = performance.now();
  const progress = setInterval(
    () => console.log(`  still building the reference (${Math.round((performance.now() - t0) / 1000)} s)`),
    30_000,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const p = spawn('nice', ['-n', '10', 'go', 'build', '-trimpath', '-o', tmp, '.'], {
        cwd: REF_DIR,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      p.on('error', (e) =>
        reject(new Error(`go build: ${e.message} (is Go on PATH? scripts/install.sh needs it too)`)),
      );
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`go build of ${REF_DIR} exited ${code}`))));
    });
  } finally {
    clearInterval(progress);
  }
  fs.renameSync(tmp, bin);
  console.log(`reference built in ${Math.round((performance.now() - t0) / 1000)} s`);
  return bin;
}

/** A record of the reference's -resources file: [u32 BE name length][name][u32 BE length][Any bytes]. */
export function resourceRecord(name: string, any: Buffer): Buffer {
  const n = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(n.length);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(any.length);
  return Buffer.concat([head, n, len, any]);
}
