import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../harness/paths.ts';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `meshbridge` executable with a config file; `onStderr` sees stderr as it arrives. */
export function meshbridge(configFile: string, args: string[], onStderr?: (all: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(projectRoot, 'bin', 'meshbridge.js'), ...args, '--config', configFile],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr);
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
