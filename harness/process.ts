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

/** A server process owned by the harness: output kept in a log file, stopped with TERM then KILL. */
export class ManagedProcess {
  readonly logFile: string;
  private readonly child: ChildProcess;
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(readonly spec: SpawnSpec) {
    this.logFile = path.join(spec.logDir, `${spec.name}.log`);
    const out = fs.openSync(this.logFile, 'a');
    this.child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', out, out],
      detached: true, // own process group, so a stop reaches the server's children too
    });
    fs.closeSync(out);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
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

  get pid(): number | undefined { return this.child.pid; }
  get running(): boolean { return this.exitCode === undefined; }

  /** Last lines of the log, for error messages. */
  tail(lines = 30): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Throws with the log tail if the process has died — used inside readiness probes. */
  assertRunning(): void {
    if (!this.running) {
      throw Object.assign(new Error(`${this.spec.name} exited (code ${this.exitCode}); log ${this.logFile}:\n${this.tail()}`), { fatal: true });
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running && this.child.pid) {
      try { process.kill(-this.child.pid, sig); } catch { /* already gone */ }
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

  wait(): Promise<number | null> { return this.exited; }
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
