import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DUBBO_VERSION, ensureDubboProvider, type DubboProvider } from './dubbo-java.ts';
import { cacheDir } from './paths.ts';
import { ManagedProcess, readyOrStop } from './process.ts';
import { waitFor } from './wait.ts';

/**
 * Runtime jars of the demo provider with Dubbo's own Nacos registry: dubbo-registry-nacos and the Nacos Java client it
 * depends on (its own version choice), resolved once from Maven Central into ~/.cache/meshbridge/dubbo/<v>/libs-nacos.
 */
function ensureNacosLibs(): string {
  const libs = path.join(cacheDir, 'dubbo', DUBBO_VERSION, 'libs-nacos');
  if (fs.existsSync(path.join(libs, '.complete'))) return libs;
  process.stderr.write(
    `meshbridge: resolving Dubbo ${DUBBO_VERSION} + dubbo-registry-nacos jars from Maven Central into ${libs}\n`,
  );
  fs.rmSync(libs, { recursive: true, force: true });
  const pomDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-dubbo-nacos-pom-'));
  fs.writeFileSync(
    path.join(pomDir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>meshbridge</groupId><artifactId>dubbo-nacos-provider-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.dubbo</groupId><artifactId>dubbo</artifactId><version>${DUBBO_VERSION}</version></dependency>
    <dependency><groupId>org.apache.dubbo</groupId><artifactId>dubbo-registry-nacos</artifactId><version>${DUBBO_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>`,
  );
  const mvn = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      path.join(pomDir, 'pom.xml'),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  fs.rmSync(pomDir, { recursive: true, force: true });
  if (mvn.status !== 0)
    throw new Error(
      `resolving dubbo-registry-nacos ${DUBBO_VERSION} from Maven Central failed (mvn exit ${mvn.status})`,
    );
  fs.writeFileSync(path.join(libs, '.complete'), '');
  return libs;
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
