import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';
import { kafkaHome } from './install.ts';
import { jvmArchive, settleOnExit } from './jvm-archive.ts';
import type { TestCerts } from './certs.ts';

export interface KafkaServer {
  port: number;
  brokers: string[];
  proc: ManagedProcess;
  /** The broker's log dirs (the topics' data). */
  dataDir: string;
  /** With the `saslSsl` option: the SASL_SSL listener (`brokers` stays the PLAINTEXT one, used by the harness). */
  saslSsl?: { port: number; brokers: string[] };
  stop(): Promise<void>;
}

export interface KafkaSaslSslOptions {
  /** Server certificate and key, and the CA that signed them (harness/certs.ts makeServerCerts). */
  certs: TestCerts;
  /** Users for SASL/PLAIN (in the listener's JAAS config). */
  plainUsers?: Array<{ username: string; password: string }>;
  /** Users for SCRAM, created when the storage is formatted (`kafka-storage format --add-scram`). */
  scramUsers?: Array<{ username: string; password: string; mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' }>;
  /** Require a client certificate signed by certs' CA (`ssl.client.auth=required`). */
  clientAuth?: boolean;
}

/** server.properties lines for an extra SASL_SSL listener (PEM key store and trust store, PLAIN and SCRAM). */
function saslSslProperties(dir: string, o: KafkaSaslSslOptions): string[] {
  // A PEM key store file holds the private key and the certificate chain.
  const keystore = path.join(dir, 'sasl-ssl-keystore.pem');
  fs.writeFileSync(keystore, fs.readFileSync(o.certs.serverKey, 'utf8') + fs.readFileSync(o.certs.serverCert, 'utf8'));
  const q = (v: string) => JSON.stringify(v); // JAAS option values are double-quoted strings
  const plainUsers = (o.plainUsers ?? []).map((u) => `user_${u.username}=${q(u.password)}`).join(' ');
  const l = 'listener.name.sasl_ssl';
  return [
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `${l}.ssl.keystore.type=PEM`,
    `${l}.ssl.keystore.location=${keystore}`,
    `${l}.ssl.truststore.type=PEM`,
    `${l}.ssl.truststore.location=${o.certs.caCert}`,
    `${l}.ssl.client.auth=${o.clientAuth ? 'required' : 'none'}`,
    `${l}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    `${l}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `${l}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
  ];
}

/** Single-node KRaft Kafka (combined broker + controller) from the Maven Central jars scripts/install.sh cached. */
export function startKafka(
  runDir: string,
  opts: { port?: number; saslSsl?: KafkaSaslSslOptions } = {},
): Promise<KafkaServer> {
  return startWithPortRetry('kafka', async () =>
    launchKafka(
      runDir,
      opts.port ?? (await freePort()),
      await freePort(),
      opts.saslSsl && { ...opts.saslSsl, port: await freePort() },
    ),
  );
}

async function launchKafka(
  runDir: string,
  port: number,
  controllerPort: number,
  saslSsl?: KafkaSaslSslOptions & { port: number },
): Promise<KafkaServer> {
  const saslListener = saslSsl ? `,SASL_SSL://127.0.0.1:${saslSsl.port}` : '';
  const dir = path.join(runDir, 'kafka');
  const dataDir = path.join(dir, 'data');
  // A retry after a lost port starts from an unformatted log dir (format refuses a formatted one).
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const props = path.join(dir, 'server.properties');
  fs.writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${saslListener}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${saslListener}`,
      'controller.listener.names=CONTROLLER',
      `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${saslSsl ? ',SASL_SSL:SASL_SSL' : ''}`,
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${dataDir}`,
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
      ...(saslSsl ? saslSslProperties(dir, saslSsl) : []),
      '',
    ].join('\n'),
  );
  const log4j = path.join(dir, 'log4j.properties');
  fs.writeFileSync(
    log4j,
    'log4j.rootLogger=WARN, C\nlog4j.logger.kafka.server.KafkaServer=INFO\nlog4j.logger.kafka.server.KafkaRaftServer=INFO\nlog4j.appender.C=org.apache.log4j.ConsoleAppender\nlog4j.appender.C.layout=org.apache.log4j.PatternLayout\nlog4j.appender.C.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n\n',
  );
  // Kafka 4 also loads log4j 2 (its log-level controller), which complains at start without a configuration of its own;
  // Kafka's logging itself goes through slf4j to reload4j and the file above on both 3.x and 4.x.
  const log4j2 = path.join(dir, 'log4j2.properties');
  fs.writeFileSync(
    log4j2,
    [
      'status=warn',
      'rootLogger.level=WARN',
      'rootLogger.appenderRef.c.ref=C',
      'appender.c.type=Console',
      'appender.c.name=C',
      'appender.c.layout.type=PatternLayout',
      'appender.c.layout.pattern=%d{ISO8601} %-5p %c{1} - %m%n',
      '',
    ].join('\n'),
  );
  const cp = path.join(kafkaHome(), 'libs', '*');
  const logging = [`-Dlog4j.configuration=file:${log4j}`, `-Dlog4j2.configurationFile=${log4j2}`];
  // A small broker sharing 2 cores with everything it serves: the serial collector (no concurrent GC threads for a
  // heap that holds little) and the client compiler only (C2's compilations cost ~9% of a core through bench:e2e's
  // minute of churn). bench:e2e at 10,000 × 10: the broker's CPU 21–23% → 10–13% of a core (README, "End to end").
  const jvm = ['-Xmx768m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', ...logging];
  // A base64url id may start with '-', which the storage tool's argument parser takes for a flag (Kafka's own
  // Uuid.randomUuid() skips such ids for this reason): draw until it does not, and pass it as --cluster-id=.
  let clusterId: string;
  do clusterId = crypto.randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-'));
  // SCRAM credentials live in the cluster metadata; format writes them before the first start.
  const scram = (saslSsl?.scramUsers ?? []).flatMap((u) => [
    '--add-scram',
    `${u.mechanism}=[name=${u.username},password=${u.password}]`,
  ]);
  const formatArchive = jvmArchive('kafka-storage-format', cp);
  const fmt = spawnSync(
    'java',
    [
      ...jvm,
      ...formatArchive.args,
      '-cp',
      cp,
      'kafka.tools.StorageTool',
      'format',
      `--cluster-id=${clusterId}`,
      '-c',
      props,
      ...scram,
    ],
    { encoding: 'utf8' },
  );
  formatArchive.settle(fmt.status === 0);
  if (fmt.status !== 0) throw new Error(`kafka storage format failed: ${fmt.stderr || fmt.stdout}`);
  const brokerArchive = jvmArchive('kafka-broker', cp);
  const proc = new ManagedProcess({
    name: 'kafka',
    command: 'java',
    args: [...jvm, ...brokerArchive.args, '-cp', cp, 'kafka.Kafka', props],
    logDir: runDir,
  });
  const served = settleOnExit(brokerArchive, proc);
  const brokers = [`127.0.0.1:${port}`];
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  await readyOrStop(proc, () =>
    waitFor(
      async () => {
        proc.assertRunning();
        const admin = kafka.admin();
        try {
          await admin.connect();
          const c = await admin.describeCluster();
          return c.brokers.length > 0;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      { what: `kafka on :${port}`, timeoutMs: 60_000, intervalMs: 300 },
    ),
  );
  served();
  return {
    port,
    brokers,
    proc,
    dataDir,
    ...(saslSsl ? { saslSsl: { port: saslSsl.port, brokers: [`127.0.0.1:${saslSsl.port}`] } } : {}),
    stop: () => proc.stop(20_000),
  };
}
