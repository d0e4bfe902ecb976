import { Kafka, logLevel, CompressionTypes, type ITopicConfig } from 'kafkajs';
import { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { KafkaLogThrottle, kafkaLogLevel } from './retry.ts';

/** kafkajs logs through our structured logger, at levels that say whether an operator must act. */
export function createKafka(cfg: Config, log: Logger, clientSuffix: string): Kafka {
  // Levels by the rule in retry.ts (kafkaLogLevel, docs/operations.md): what kafkajs retries itself is not an ERROR.
  const throttle = new KafkaLogThrottle();
  return new Kafka({
    clientId: `${cfg.kafka.clientId}-${clientSuffix}`,
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, log: entry }) => {
      const { message, ...rest } = entry;
      const l = kafkaLogLevel(level, message, rest);
      log[l === 'warn-transient' ? throttle.level(`${namespace}|${message}`) : l]({ kafka: namespace, ...rest }, message);
    },
    retry: { initialRetryTime: 200, retries: 8 },
  });
}

export const compressionOf = (cfg: Config) => (cfg.kafka.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None);

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
      .map((topic) => ({ topic, numPartitions: topic === cfg.kafka.topic ? cfg.kafka.partitions : 1, replicationFactor: -1, configEntries }));
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

export function createRedis(cfg: Config, log: Logger, name: string): Redis {
  const r = new Redis(cfg.redis.url, {
    connectionName: `meshbridge-${name}`,
    maxRetriesPerRequest: null, // keep commands queued across a Redis restart instead of failing them
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: true,
  });
  r.on('error', (e) => log.warn({ err: e.message, redis: name }, 'redis connection error'));
  return r;
}
