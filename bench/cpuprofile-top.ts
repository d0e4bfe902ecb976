/**
 * Self time by function from a V8 .cpuprofile (what `node --cpu-prof` writes), over a window of the run: the
 * benchmarks profile whole processes but only want the churn, so the window is given in milliseconds before the
 * profile's last sample (process exit), which is the one clock both sides know.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface TopRow {
  ms: number;
  percent: number;
  frame: string;
}

/** Frames by self time within [endMs - fromEndMs, endMs - toEndMs]; percent is of the window's busy time. */
export function topFrames(profile: CpuProfile, fromEndMs: number, toEndMs: number, limit = 25): TopRow[] {
  const frames = new Map<number, string>();
  for (const n of profile.nodes) {
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url ? `${path.basename(url)}:${lineNumber + 1}` : '';
    frames.set(n.id, `${functionName || '(anonymous)'}${file ? ` ${file}` : ''}`);
  }
  const at: number[] = [];
  let t = 0;
  for (const d of profile.timeDeltas) {
    t += d / 1000;
    at.push(t);
  }
  const end = at[at.length - 1] ?? 0;
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ti = at[i] ?? 0;
    if (ti < end - fromEndMs || ti > end - toEndMs) continue;
    const dt = (at[i + 1] ?? ti) - ti;
    const frame = frames.get(profile.samples[i]!) ?? '?';
    if (frame === '(idle)') continue; // waiting, not work: percent is of busy time
    self.set(frame, (self.get(frame) ?? 0) + dt);
    total += dt;
  }
  return [...self.entries()]
    .sort(([, a], [, b]) => b - a)
    .slice(0, limit)
    .map(([frame, ms]) => ({ ms: Math.round(ms), percent: Number(((ms / (total || 1)) * 100).toFixed(1)), frame }));
}

/**
 * The newest main-thread profile in a directory: a process writes one per thread on exit, named
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, and thread 0 is the main thread (others: loader hooks, workers).
 */
export function readLatestProfile(dir: string): CpuProfile | undefined {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)) : [];
  const newest = files.map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  return newest ? (JSON.parse(fs.readFileSync(newest, 'utf8')) as CpuProfile) : undefined;
}
