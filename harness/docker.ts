import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { baseImageTarball, composeBinary, dockerVersions, ensureInstalled } from './install.ts';
import { cacheDir, projectRoot } from './paths.ts';
import { waitFor } from './wait.ts';

/**
 * A Docker engine of our own (Debian's docker.io: dockerd 20.10, containerd, runc) for the compose end-to-end test:
 * its own socket, exec root and pid file, so it never touches a system daemon; its data root under the install cache,
 * so images built by one run are there for the next (a warm run rebuilds nothing). No default bridge and no iptables
 * rules: compose's own network (a user-defined bridge with name resolution) is all the stack needs, published ports go
 * through docker-proxy on 127.0.0.1, and nothing is NATed to the outside. Image builds use the host network
 * (docker-compose.yml, `build.network: host`) to reach the package registries.
 */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface DockerEngine {
  /** DOCKER_HOST and DOCKER_CONFIG (with the compose plugin) for `docker` and `docker compose`. */
  env: NodeJS.ProcessEnv;
  socket: string;
  dataRoot: string;
  /** Runs `docker ...args` against this engine; output also appended to `<runDir>/docker-commands.log`. */
  docker(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string }): Promise<RunResult>;
  stop(): Promise<void>;
}

const RUN_BASE = process.env.MESHBRIDGE_DOCKER_RUN_DIR ?? '/run/meshbridge-docker';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to completion, collecting its output; never throws on a non-zero exit (the caller asserts). */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; log?: string } = {},
): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const logFd = opts.log ? fs.openSync(opts.log, 'a') : undefined;
    if (logFd !== undefined) fs.writeSync(logFd, `\n$ ${cmd} ${args.join(' ')}\n`);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      if (logFd !== undefined) fs.writeSync(logFd, d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
      if (logFd !== undefined) fs.writeSync(logFd, d);
    });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n[harness] killed after ${opts.timeoutMs} ms`;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const ms = performance.now() - t0;
      if (logFd !== undefined) {
        fs.writeSync(logFd, `[exit ${code} after ${(ms / 1000).toFixed(1)} s]\n`);
        fs.closeSync(logFd);
      }
      resolve({ code, stdout, stderr, ms });
    });
    child.on('error', (e) => {
      stderr += String(e);
    });
  });
}

/**
 * Starts dockerd (installing Docker, the base image tarball and the compose CLI with scripts/install.sh if missing),
 * waits until it answers, and makes sure the pinned base image is present (imported from the debootstrap tarball).
 * Only one such engine may use the data root at a time: a live one is an error, a stale pid file is cleaned up.
 */
export async function startDockerEngine(runDir: string): Promise<DockerEngine> {
  ensureInstalled(['docker', 'docker-base', 'compose']);
  const dataRoot = path.join(cacheDir, 'docker', 'data-root');
  const execRoot = path.join(RUN_BASE, 'exec');
  const socket = path.join(RUN_BASE, 'docker.sock');
  const pidFile = path.join(RUN_BASE, 'dockerd.pid');
  const configDir = path.join(RUN_BASE, 'config');
  fs.mkdirSync(dataRoot, { recursive: true });
  fs.mkdirSync(path.join(configDir, 'cli-plugins'), { recursive: true });
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (pid && alive(pid))
      throw new Error(`a dockerd (pid ${pid}, ${pidFile}) already uses ${dataRoot}; stop it first`);
    fs.rmSync(pidFile, { force: true });
  }
  fs.rmSync(socket, { force: true });
  const plugin = path.join(configDir, 'cli-plugins', 'docker-compose');
  fs.rmSync(plugin, { force: true });
  fs.symlinkSync(composeBinary(), plugin);

  // The build cache lives in the data root across runs: let BuildKit collect it beyond a bound, so a machine that
  // builds many revisions (or a user-path build of istiod and Consul, several GB of Go caches) does not grow forever.
  const daemonJson = path.join(RUN_BASE, 'daemon.json');
  fs.writeFileSync(daemonJson, JSON.stringify({ builder: { gc: { enabled: true, defaultKeepStorage: '8GB' } } }));

  const logFile = path.join(runDir, 'dockerd.log');
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--config-file',
      daemonJson,
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '-H',
      `unix://${socket}`,
      '--pidfile',
      pidFile,
      '--bridge=none',
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--storage-driver=overlay2',
    ],
    { stdio: ['ignore', out, out], detached: true },
  );
  fs.closeSync(out);
  let exited = false;
  const exitedP = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const onExit = () => {
    if (!exited && child.pid)
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
  };
  process.on('exit', onExit);

  const env: NodeJS.ProcessEnv = { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: configDir };
  const cmdLog = path.join(runDir, 'docker-commands.log');
  const docker: DockerEngine['docker'] = (args, opts = {}) =>
    run('docker', args, { ...opts, env: { ...env, ...opts.env }, log: cmdLog });

  const stop = async () => {
    process.off('exit', onExit);
    if (exited || !child.pid) return;
    // dockerd stops its containers itself on SIGTERM (then its containerd); only escalate if it hangs.
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 60_000);
    await exitedP;
    clearTimeout(timer);
  };

  try {
    await waitFor(
      async () => {
        if (exited)
          throw Object.assign(
            new Error(
              `dockerd exited; log ${logFile}:\n${fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n')}`,
            ),
            { fatal: true },
          );
        return (await docker(['version', '--format', '{{.Server.Version}}'])).code === 0;
      },
      { what: `dockerd on ${socket} (log ${logFile})`, timeoutMs: 60_000, intervalMs: 200 },
    );
    if ((await docker(['image', 'inspect', dockerVersions.baseImage])).code !== 0) {
      const imp = await docker(['import', baseImageTarball(), dockerVersions.baseImage], { timeoutMs: 300_000 });
      if (imp.code !== 0) throw new Error(`docker import of ${baseImageTarball()} failed: ${imp.stderr}`);
    }
    const compose = await docker(['compose', 'version', '--short']);
    if (compose.code !== 0) throw new Error(`docker compose plugin not usable: ${compose.stderr}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { env, socket, dataRoot, docker, stop };
}

/**
 * Fills deploy/docker/local/ (machine-local build inputs, deploy/docker/local/README.md) with hard links: what
 * scripts/install.sh built on this machine (istiod, Consul, the Kafka jars: `<server>/<version>/...`), which the image
 * builds then take instead of building again, and the machine's extra certificate authorities, which build steps
 * fetching over HTTPS must trust here. Links that no longer match their source are replaced; other versions and stale
 * CAs are removed.
 */
export function linkLocalBuildInputs(
  servers: { server: string; dir: string }[],
  caDir = '/usr/local/share/ca-certificates',
): void {
  const local = path.join(projectRoot, 'deploy', 'docker', 'local');
  const link = (src: string, dst: string) => {
    const st = fs.statSync(src);
    if (fs.existsSync(dst) && fs.statSync(dst).ino === st.ino) return;
    fs.rmSync(dst, { force: true });
    try {
      fs.linkSync(src, dst);
    } catch {
      fs.copyFileSync(src, dst);
      fs.chmodSync(dst, st.mode);
    }
  };
  const walk = (from: string, to: string) => {
    fs.mkdirSync(to, { recursive: true });
    for (const e of fs.readdirSync(from, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(from, e.name), path.join(to, e.name));
      else link(path.join(from, e.name), path.join(to, e.name));
    }
  };
  for (const { server, dir } of servers) {
    // Only the version scripts/install.sh names now: build-server.sh copies whatever version it finds.
    for (const e of fs.readdirSync(path.join(local, server))) {
      if (e !== '.keep' && e !== path.basename(dir))
        fs.rmSync(path.join(local, server, e), { recursive: true, force: true });
    }
    walk(dir, path.join(local, server, path.basename(dir)));
  }
  const caTarget = path.join(local, 'ca-certificates');
  const cas = fs.existsSync(caDir) ? fs.readdirSync(caDir).filter((f) => f.endsWith('.crt')) : [];
  for (const f of fs.readdirSync(caTarget))
    if (f !== '.keep' && !cas.includes(f)) fs.rmSync(path.join(caTarget, f), { force: true });
  for (const f of cas) link(path.join(caDir, f), path.join(caTarget, f));
}
