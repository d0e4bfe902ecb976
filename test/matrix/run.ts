/**
 * `npm run test:matrix [-- <combination> ...]`: installs each combination's neighbour version with scripts/install.sh,
 * runs its e2e tests one file at a time against it, and records the results in bench/results/matrix.json and
 * bench/results/matrix.md (docs/versions.md explains the combinations). Exits non-zero when any test failed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../harness/paths.ts';
import { select, type Combination } from './combinations.ts';
import { mergeResults, renderTable, type MatrixResult } from './results.ts';

/** A hung test file must not hang the matrix: its own waits are bounded well below this. */
const FILE_TIMEOUT_MS = 30 * 60_000;

interface Outcome {
  code: number | null;
  seconds: number;
  log: string;
}

const say = (line: string) => process.stderr.write(`[matrix] ${line}\n`);
const tail = (file: string, lines: number) => fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');

function run(cmd: string, args: string[], env: Record<string, string>, log: string, label: string): Promise<Outcome> {
  const t0 = Date.now();
  const out = fs.createWriteStream(log);
  return new Promise((resolve) => {
    const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
    const child = spawn(cmd, args, { cwd: projectRoot, env: { ...process.env, ...env }, stdio });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    const timer = setTimeout(() => {
      out.write(`\n[matrix] ${label}: killed after ${FILE_TIMEOUT_MS / 60_000} min\n`);
      child.kill('SIGTERM');
    }, FILE_TIMEOUT_MS);
    const progress = setInterval(() => say(`${label}: running (${Math.round((Date.now() - t0) / 1000)} s)`), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(progress);
      out.end(() => resolve({ code, seconds: Math.round((Date.now() - t0) / 100) / 10, log }));
    });
  });
}

async function runCombination(c: Combination, logDir: string): Promise<MatrixResult[]> {
  const results: MatrixResult[] = [];
  const at = new Date().toISOString();
  const base = { combination: c.name, neighbour: c.neighbour, version: c.version, at };
  let installSeconds: number | undefined;
  if (c.install.length > 0) {
    const script = path.join(projectRoot, 'scripts', 'install.sh');
    const inst = await run(script, c.install, c.env, path.join(logDir, `${c.name}-install.log`), `${c.name} install`);
    installSeconds = inst.seconds;
    if (inst.code !== 0) {
      say(`${c.name}: install failed:\n${tail(inst.log, 40)}`);
      const log = path.relative(projectRoot, inst.log);
      return c.tests.map((test) => ({ ...base, test, status: 'install failed', seconds: 0, installSeconds, log }));
    }
  }
  const envText = Object.entries(c.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  for (const test of c.tests) {
    const file = path.join('test', 'e2e', `${test}.test.ts`);
    say(`${c.name}: ${test} (${envText})`);
    const args = [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      '--test-force-exit',
      '--test-reporter=spec',
      file,
    ];
    const r = await run(process.execPath, args, c.env, path.join(logDir, `${c.name}-${test}.log`), `${c.name} ${test}`);
    const status = r.code === 0 ? 'pass' : 'fail';
    const log = path.relative(projectRoot, r.log);
    say(`${c.name}: ${test} ${status} in ${r.seconds} s (log ${log})`);
    // A CI log must show why without the log file: its last lines (the failing assertion and test summary).
    if (status === 'fail') process.stderr.write(tail(r.log, 60) + '\n');
    results.push({ ...base, test, status, seconds: r.seconds, installSeconds, log });
    installSeconds = undefined; // reported once per combination
  }
  return results;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const combos = select(args);
  const logDir = path.join(projectRoot, '.meshbridge', 'matrix', new Date().toISOString().replace(/[:.]/g, ''));
  fs.mkdirSync(logDir, { recursive: true });
  const results: MatrixResult[] = [];
  for (const c of combos) results.push(...(await runCombination(c, logDir)));
  // `npm test` runs its subset for the pass/fail only: it must not change tracked files.
  if (args[0] === '--npm-test') return report(results);
  const jsonFile = path.join(projectRoot, 'bench', 'results', 'matrix.json');
  const previous: MatrixResult[] = fs.existsSync(jsonFile) ? JSON.parse(fs.readFileSync(jsonFile, 'utf8')) : [];
  const merged = mergeResults(previous, results);
  fs.writeFileSync(jsonFile, JSON.stringify(merged, null, 2) + '\n');
  fs.writeFileSync(path.join(projectRoot, 'bench', 'results', 'matrix.md'), renderTable(merged));
  report(results);
}

function report(results: MatrixResult[]): void {
  process.stdout.write(renderTable(results));
  const failed = results.filter((r) => r.status !== 'pass');
  if (failed.length > 0) {
    say(`${failed.length} failed: ${failed.map((r) => `${r.combination}/${r.test}`).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
