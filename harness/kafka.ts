import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import { kafkaHome } from './install.ts';

export interface KafkaServer {
  port: number;
  brokers: string[];
  proc: ManagedProcess;
  stop(): Promise<void>;
}

/** Single-node KRaft Kafka (combined broker + controller) from the Maven Central jars scripts/install.sh cached. */
export function startKafka(runDir: string, opts: { port?: number } = {}): Promise<KafkaServer> {
  return startWithPortRetry('kafka', async () => launchKafka(runDir, opts.port ?? (await freePort()), await freePort()));
}

async function launchKafka(runDir: string, port: number, controllerPort: number): Promise<KafkaServer> {
  const dir = path.join(runDir, 'kafka');
  // A retry after a lost port starts from an unformatted log dir (format refuses a formatted one).
  fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const props = path.join(dir, 'server.properties');
  fs.writeFileSync(props, [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=3',
    'group.initial.rebalance.delay.ms=0',
    'message.max.bytes=16777216',
    'socket.request.max.bytes=134217728',
    '',
  ].join('\n'));
  const log4j = path.join(dir, 'log4j.properties');
  fs.writeFileSync(log4j, 'log4j.rootLogger=WARN, C\nlog4j.logger.kafka.server.KafkaServer=INFO\nlog4j.logger.kafka.server.KafkaRaftServer=INFO\nlog4j.appender.C=org.apache.log4j.ConsoleAppender\nlog4j.appender.C.layout=org.apache.log4j.PatternLayout\nlog4j.appender.C.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n\n');
  const cp = path.join(kafkaHome(), 'libs', '*');
  const jvm = ['-Xmx768m', '-XX:+UseG1GC', `-Dlog4j.configuration=file:${log4j}`, '-cp', cp];
  // A base64url id may start with '-', which the storage tool's argument parser takes for a flag (Kafka's own
  // Uuid.randomUuid() skips such ids for this reason): draw until it does not, and pass it as --cluster-id=.
  let clusterId: string;
  do clusterId = crypto.randomBytes(16).toString('base64url'); while (clusterId.startsWith('-'));
  const fmt = spawnSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', props], { encoding: 'utf8' });
  if (fmt.status !== 0) throw new Error(`kafka storage format failed: ${fmt.stderr || fmt.stdout}`);
  const proc = new ManagedProcess({ name: 'kafka', command: 'java', args: [...jvm, 'kafka.Kafka', props], logDir: runDir });
  const brokers = [`127.0.0.1:${port}`];
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  await readyOrStop(proc, () => waitFor(async () => {
    proc.assertRunning();
    const admin = kafka.admin();
    try {
      await admin.connect();
      const c = await admin.describeCluster();
      return c.brokers.length > 0;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }, { what: `kafka on :${port}`, timeoutMs: 60_000, intervalMs: 300 }));
  return { port, brokers, proc, stop: () => proc.stop(20_000) };
}
