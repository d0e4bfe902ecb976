import { Kafka, logLevel, CompressionTypes, type ITopicConfig, type KafkaConfig } from 'kafkajs';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { KafkaLogThrottle, kafkaLogLevel } from './kafka-log.ts';
import { tlsOptions } from './tls-options.ts';
import { anyReachable } from './dependency.ts';
import { retryUntil, type Dependency } from './retry.ts';

/** kafkajs logs through our structured logger, at levels that say whether an operator must act. */
export function createKafka(cfg: Config, log: Logger, clientSuffix: string): Kafka {
  // Levels by the rule in retry.ts (kafkaLogLevel, docs/operations.md): what kafkajs retries itself is not an ERROR.
  const throttle = new KafkaLogThrottle();
  return new Kafka({
    clientId: `${cfg.kafka.clientId}-${clientSuffix}`,
    ...kafkaConnectionOptions(cfg),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }) => {
        const { message, ...rest } = entry;
        const l = kafkaLogLevel(level, message, rest);
        log[l === 'warn-transient' ? throttle.level(`${namespace}|${message}`) : l](
          { kafka: namespace, ...rest },
          message,
        );
      },
    retry: { initialRetryTime: 200, retries: 8 },
  });
}

/** Where and how to reach Kafka: brokers, TLS (kafka.ssl) and SASL (kafka.sasl), for every kafkajs client. */
export function kafkaConnectionOptions(cfg: Config): Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'> {
  const { brokers, ssl, sasl } = cfg.kafka;
  return {
    brokers,
    ...(ssl ? { ssl: tlsOptions(ssl) } : {}),
    // kafkajs types SASL as a union keyed by mechanism; the three config mechanisms are kafkajs's own names.
    ...(sasl
      ? { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as KafkaConfig['sasl'] }
      : {}),
  };
}

export const compressionOf = (cfg: Config) =>
  cfg.kafka.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;

/**
 * Creates the event and dead-letter topics if missing. The event topic is the system of record: retention from
 * config (unlimited by default), raised message size for services with thousands of instances.
 */
export async function ensureTopics(kafka: Kafka, cfg: Config, log: Logger): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const configEntries = [
      { name: 'retention.ms', value: String(cfg.kafka.retentionMs) },
      { name: 'retention.bytes', value: '-1' },
      { name: 'max.message.bytes', value: String(cfg.kafka.maxMessageBytes) },
      { name: 'cleanup.policy', value: 'delete' },
    ];
    const topics: ITopicConfig[] = [cfg.kafka.topic, cfg.kafka.deadLetterTopic]
      .filter((t) => !existing.has(t))
      .map((topic) => ({
        topic,
        numPartitions: topic === cfg.kafka.topic ? cfg.kafka.partitions : 1,
        replicationFactor: -1,
        configEntries,
      }));
    if (topics.length > 0) {
      // Another replica may create them at the same moment: "already exists" is success.
      await admin.createTopics({ topics, waitForLeaders: true }).catch((e: Error) => {
        if (!/already exists/i.test(e.message)) throw e;
      });
      log.info({ topics: topics.map((t) => t.topic) }, 'created topics');
    }
  } finally {
    await admin.disconnect();
  }
}

export async function partitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    return md.topics[0]?.partitions.length ?? 0;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until Kafka answers, then makes sure the topics exist and returns the event topic's partition count. Each
 * attempt first checks that a broker accepts TCP connections (kafkajs's own connect retries for up to ~50 s before
 * failing, so the dependency backoff — max 5 s — decides how soon a returning Kafka is noticed), then lets kafkajs
 * (TLS, SASL, its retries) create the topics and read the metadata.
 */
export async function waitForKafka(
  kafka: Kafka,
  cfg: Config,
  log: Logger,
  dep: Dependency,
  stopped: () => boolean = () => false,
): Promise<number> {
  return retryUntil(
    dep,
    async () => {
      await anyReachable(cfg.kafka.brokers);
      await ensureTopics(kafka, cfg, log);
      const partitions = await partitionCount(kafka, cfg.kafka.topic);
      if (partitions === 0) throw new Error(`topic ${cfg.kafka.topic} has no partitions yet`);
      return partitions;
    },
    { stopped },
  );
}
