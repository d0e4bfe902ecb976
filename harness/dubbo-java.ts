import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, projectRoot, versions } from './paths.ts';
import { ManagedProcess, readyOrStop } from './process.ts';
import { waitFor } from './wait.ts';
import { resolveJars } from './maven-jars.ts';

export const DUBBO_VERSION = versions.dubbo;
const SOURCES = path.join(projectRoot, 'harness', 'dubbo-provider');

/**
 * A real Apache Dubbo provider (harness/dubbo-provider/*.java) compiled with javac against Dubbo and the ZooKeeper
 * client from Maven Central. Jars are resolved once per Dubbo version, classes once per source hash, both cached
 * under ~/.cache/meshbridge/dubbo. Throws (never skips) when Maven or javac fail.
 */
export function ensureDubboProvider(): { classpath: string } {
  const base = path.join(cacheDir, 'dubbo', DUBBO_VERSION);
  const libs = path.join(base, 'libs');
  const zk = zookeeperClientFor(DUBBO_VERSION);
  resolveJars(
    libs,
    `Apache Dubbo ${DUBBO_VERSION} + ZooKeeper client`,
    `    <dependency><groupId>org.apache.dubbo</groupId><artifactId>dubbo</artifactId><version>${DUBBO_VERSION}</version></dependency>
    <dependency><groupId>org.apache.curator</groupId><artifactId>curator-x-discovery</artifactId><version>${zk.curator}</version></dependency>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>${zk.zookeeper}</version>
      <exclusions><exclusion><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId></exclusion>
        <exclusion><groupId>ch.qos.logback</groupId><artifactId>logback-core</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>slf4j-log4j12</artifactId></exclusion>
        <exclusion><groupId>log4j</groupId><artifactId>log4j</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>1.7.36</version></dependency>`,
  );
  const files = fs
    .readdirSync(path.join(SOURCES, 'org', 'meshbridge', 'demo'))
    .filter((f) => f.endsWith('.java'))
    .sort()
    .map((f) => path.join(SOURCES, 'org', 'meshbridge', 'demo', f));
  const hash = crypto.createHash('sha256');
  for (const f of files) hash.update(fs.readFileSync(f));
  const classes = path.join(base, `classes-${hash.digest('hex').slice(0, 12)}`);
  if (!fs.existsSync(path.join(classes, '.complete'))) {
    fs.rmSync(classes, { recursive: true, force: true });
    const javac = spawnSync('javac', ['-d', classes, '-cp', `${libs}/*`, ...files], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (javac.status !== 0) throw new Error(`javac failed for the Dubbo demo provider (exit ${javac.status})`);
    fs.writeFileSync(path.join(classes, '.complete'), '');
  }
  return { classpath: `${classes}:${libs}/*` };
}

/**
 * The Curator and ZooKeeper client a Dubbo line's zookeeper registry is used with; log bindings are excluded so
 * slf4j-simple is the only one. 2.7 is released with Curator 4.2.0 and ZooKeeper 3.4.13 (dubbo-dependencies-zookeeper),
 * but the 3.4 client cannot connect on Java 14+ (it leaves the server address unresolved: UnresolvedAddressException),
 * so 2.7 users on Java 17 run the 3.5 client with that Curator, as here.
 */
function zookeeperClientFor(dubbo: string): { curator: string; zookeeper: string } {
  return dubbo.startsWith('2.') ? { curator: '4.2.0', zookeeper: '3.5.10' } : { curator: '5.1.0', zookeeper: '3.8.4' };
}

/**
 * Dubbo 2.7 predates the Java module system: its javassist proxies define classes through ClassLoader.defineClass,
 * which Java 17 refuses unless java.lang is opened (what 2.7 users on Java 17 pass too).
 */
function legacyJvmFlags(dubbo: string): string[] {
  if (!dubbo.startsWith('2.')) return [];
  return ['--add-opens=java.base/java.lang=ALL-UNNAMED', '--add-opens=java.base/java.util=ALL-UNNAMED'];
}

export interface DubboProvider {
  proc: ManagedProcess;
  app: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts the provider; ready once Dubbo has exported and registered the service (it prints a marker line). */
export async function startDubboProvider(
  runDir: string,
  opts: { zookeeper: string; group: string; app: string; port: number; name?: string },
): Promise<DubboProvider> {
  const { classpath } = ensureDubboProvider();
  const proc = new ManagedProcess({
    name: opts.name ?? `dubbo-${opts.app}`,
    command: 'java',
    args: [
      '-Xmx192m',
      '-XX:TieredStopAtLevel=1',
      ...legacyJvmFlags(DUBBO_VERSION),
      '-cp',
      classpath,
      'org.meshbridge.demo.Provider',
      opts.zookeeper,
      opts.group,
      opts.app,
      '127.0.0.1',
      String(opts.port),
    ],
    logDir: runDir,
  });
  await readyOrStop(proc, () =>
    waitFor(
      () => {
        proc.assertRunning();
        return fs.readFileSync(proc.logFile, 'utf8').includes('MESHBRIDGE-DUBBO-PROVIDER-READY');
      },
      { what: `Dubbo provider ${opts.app} (log ${proc.logFile})`, timeoutMs: 90_000, intervalMs: 200 },
    ),
  );
  return { proc, app: opts.app, port: opts.port, stop: () => proc.stop() };
}
