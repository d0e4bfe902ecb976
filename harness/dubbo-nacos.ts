import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DUBBO_VERSION, ensureDubboProvider, type DubboProvider } from './dubbo-java.ts';
import { cacheDir } from './paths.ts';
import { ManagedProcess, readyOrStop } from './process.ts';
import { waitFor } from './wait.ts';
import { resolveJars } from './maven-jars.ts';

/**
 * Runtime jars of the demo provider with Dubbo's own Nacos registry: dubbo-registry-nacos and the Nacos Java client it
 * depends on (its own version choice), resolved once from Maven Central into ~/.cache/meshbridge/dubbo/<v>/libs-nacos.
 */
function ensureNacosLibs(): string {
  return resolveJars(
    path.join(cacheDir, 'dubbo', DUBBO_VERSION, 'libs-nacos'),
    `Dubbo ${DUBBO_VERSION} + dubbo-registry-nacos`,
    `    <dependency><groupId>org.apache.dubbo</groupId><artifactId>dubbo</artifactId><version>${DUBBO_VERSION}</version></dependency>
    <dependency><groupId>org.apache.dubbo</groupId><artifactId>dubbo-registry-nacos</artifactId><version>${DUBBO_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>1.7.36</version></dependency>`,
  );
}

/** Starts the demo provider registered in Nacos by Dubbo itself; ready once Dubbo has exported and registered. */
export async function startDubboNacosProvider(
  runDir: string,
  opts: { nacos: string; app: string; port: number; username?: string; password?: string; name?: string },
): Promise<DubboProvider & { host: string }> {
  const host = machineAddress();
  const classes = ensureDubboProvider().classpath.split(':')[0]!;
  const libs = ensureNacosLibs();
  const proc = new ManagedProcess({
    name: opts.name ?? `dubbo-nacos-${opts.app}`,
    command: 'java',
    args: [
      '-Xmx192m',
      '-XX:TieredStopAtLevel=1',
      '-cp',
      `${classes}:${libs}/*`,
      'org.meshbridge.demo.NacosProvider',
      opts.nacos,
      opts.app,
      host,
      String(opts.port),
      ...(opts.username ? [opts.username, opts.password ?? ''] : []),
    ],
    logDir: runDir,
  });
  await readyOrStop(proc, () =>
    waitFor(
      () => {
        proc.assertRunning();
        return fs.readFileSync(proc.logFile, 'utf8').includes('MESHBRIDGE-DUBBO-PROVIDER-READY');
      },
      {
        what: `Dubbo provider ${opts.app} with the Nacos registry (log ${proc.logFile})`,
        timeoutMs: 120_000,
        intervalMs: 200,
      },
    ),
  );
  return { proc, app: opts.app, port: opts.port, host, stop: () => proc.stop() };
}

/**
 * The address the provider binds and registers. Dubbo's application-level instance always registers the machine's
 * own address (it refuses a loopback DUBBO_IP_TO_REGISTRY), so the interface-level one uses the same.
 */
export function machineAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
