import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running a sibling module. Sources run as TypeScript through tsx, whose loader a worker does
 * not inherit when it was registered in-process (bin/meshbridge.js): a `.ts` module gets a one-line ESM bootstrap
 * that registers tsx first. Built JavaScript (dist/) starts directly.
 */
export function startModuleWorker(moduleUrl: URL, opts: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, opts);
  const boot = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(moduleUrl.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), opts);
}

/** `name` next to `importMetaUrl`, with that module's own extension (.ts from sources, .js when built). */
export function siblingModule(importMetaUrl: string, name: string): URL {
  const ext = new URL(importMetaUrl).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, importMetaUrl);
}
