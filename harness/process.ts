import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface SpawnSpec {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Directory where `<name>.log` collects stdout and stderr. */
  logDir: string;
}

/** Every server this process started and that is still running. */
const live = new Set<ManagedProcess>();
let guarded = false;

/**
 * Servers run in their own process groups (so a stop reaches their children), which also means they outlive us if we
 * die first. On exit, and on SIGINT/SIGTERM when the program has no handler of its own (benchmarks, scripts; `up`
 * handles signals itself and stops gracefully), terminate whatever is still running.
 */
function guardExit(): void {
  if (guarded) return;
  guarded = true;
  const killAll = () => {
    for (const p of live) p.signal('SIGTERM');
  };
  process.on('exit', killAll);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(sig, () => {
      if (process.listenerCount(sig) > 1) return; // the program handles it
      killAll();
      process.exit(code);
    });
  }
}

/** A server process owned by the harness: output kept in a log file, stopped with TERM then KILL. */
export class ManagedProcess {
  readonly logFile: string;
  /** Where this process's output starts in the log (a restart under the same name appends to it). */
  private readonly logStart: number;
  private readonly child: ChildProcess;
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(readonly spec: SpawnSpec) {
    this.logFile = path.join(spec.logDir, `${spec.name}.log`);
    const out = fs.openSync(this.logFile, 'a');
    this.logStart = fs.fstatSync(out).size;
    this.child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', out, out],
      detached: true, // own process group, so a stop reaches the server's children too
    });
    fs.closeSync(out);
    guardExit();
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
      this.child.once('error', (err) => {
        fs.appendFileSync(this.logFile, `\n[harness] spawn failed: ${err.message}\n`);
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * Last lines of this process's own output, for error messages and start-up checks: an earlier process of the same
   * name (a retry on new ports, a restart) must not answer for it — a retried Nacos was failed at once on the first
   * attempt's BindException.
   */
  tail(lines = 30): string {
    try {
      return fs
        .readFileSync(this.logFile)
        .subarray(this.logStart)
        .toString('utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  }

  /** Throws with the log tail if the process has died — used inside readiness probes. */
  assertRunning(): void {
    if (!this.running) {
      throw Object.assign(
        new Error(`${this.spec.name} exited (code ${this.exitCode}); log ${this.logFile}:\n${this.tail()}`),
        { fatal: true },
      );
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running && this.child.pid) {
      try {
        process.kill(-this.child.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** kill -9: for crash tests. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  wait(): Promise<number | null> {
    return this.exited;
  }
}

/** Runs a readiness wait; if it fails, stops the process (no leaked servers) and rethrows. */
export async function readyOrStop<T>(proc: ManagedProcess, wait: () => Promise<T>): Promise<T> {
  try {
    return await wait();
  } catch (e) {
    await proc.kill();
    throw e;
  }
}
