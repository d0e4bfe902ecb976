import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import { ensureInstalled, zookeeperHome } from './install.ts';
import { jvmArchive, settleOnExit } from './jvm-archive.ts';
import { versions } from './paths.ts';

export interface ZooKeeperServer {
  port: number;
  connectString: string;
  proc: ManagedProcess;
  /** Snapshots and transaction logs (its log file is next to the run's other logs, not in here). */
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * ZooKeeper run standalone with our own zoo.cfg (not a package's init scripts): Debian's package (3.8) by default,
 * or the Maven Central release MESHBRIDGE_ZOOKEEPER_VERSION names (scripts/install.sh zookeeper caches its jars).
 */
export function startZooKeeper(runDir: string, opts: { port?: number } = {}): Promise<ZooKeeperServer> {
  ensureInstalled(['zookeeper']);
  if (opts.port !== undefined) return launchZooKeeper(runDir, opts.port);
  return startWithPortRetry('zookeeper', async () => launchZooKeeper(runDir, await freePort()));
}

async function launchZooKeeper(runDir: string, port: number): Promise<ZooKeeperServer> {
  const dir = path.join(runDir, 'zookeeper');
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const cfg = path.join(dir, 'zoo.cfg');
  fs.writeFileSync(
    cfg,
    [
      'tickTime=500', // short ticks let session-expiry tests run in seconds (min session timeout = 2 ticks)
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,stat,cons',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dir, 'log4j.properties'),
    'log4j.rootLogger=INFO, C\nlog4j.appender.C=org.apache.log4j.ConsoleAppender\nlog4j.appender.C.layout=org.apache.log4j.PatternLayout\nlog4j.appender.C.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n\n',
  );
  const classPath = zookeeperClasspath();
  const archive = jvmArchive('zookeeper', classPath);
  const proc = new ManagedProcess({
    name: 'zookeeper',
    command: 'java',
    args: [
      // 256 MiB holds the tests' registries; bench:e2e at 50,000 x 10 (500,000 provider znodes) sets more.
      `-Xmx${process.env.MESHBRIDGE_ZOOKEEPER_HEAP ?? '256m'}`,
      `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`,
      ...archive.args,
      '-cp',
      classPath,
      'org.apache.zookeeper.server.ZooKeeperServerMain',
      cfg,
    ],
    logDir: runDir,
  });
  const served = settleOnExit(archive, proc);
  await readyOrStop(proc, () =>
    waitFor(
      async () => {
        proc.assertRunning();
        return (await fourLetter(port, 'ruok')) === 'imok';
      },
      { what: `zookeeper on :${port}`, timeoutMs: 30_000, intervalMs: 200 },
    ),
  );
  served();
  return { port, connectString: `127.0.0.1:${port}`, proc, dataDir, stop: () => proc.stop() };
}

/** Debian's jar brings slf4j-api but no binding: add log4j 1.2's, or ZooKeeper logs nothing at all. */
function zookeeperClasspath(): string {
  if (versions.zookeeper === 'debian') {
    return '/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar';
  }
  return path.join(zookeeperHome(), 'libs', '*'); // with slf4j-reload4j, so the same log4j.properties applies
}

/**
 * One four-letter-word command; '' when ZooKeeper does not answer in 2 s. The deadline matters: a `ruok` that reaches
 * a ZooKeeper still loading its database is answered, but closing that socket fails inside the server
 * (NullPointerException in `ServerCnxn`, "Error closing a command socket") and the socket stays open, so waiting for
 * its end alone hung the start of a restarted server for good (seen once in CI, in zk-client-close).
 */
export function fourLetter(port: number, cmd: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' }, () => sock.write(cmd));
    let out = '';
    const done = (answer: string) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(''), timeoutMs);
    sock.on('data', (d) => (out += d.toString()));
    sock.on('end', () => done(out.trim()));
    sock.on('error', () => done(''));
  });
}
