import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { logLevel } from 'kafkajs';
import {
  DEPENDENCY_BACKOFF,
  DependencyTracker,
  backoffDelay,
  dependencyReadiness,
  redisAddress,
} from '../../services/shared/retry.ts';
import { KafkaLogThrottle, kafkaLogLevel } from '../../services/shared/kafka-log.ts';
import { formatTable, parseStatusArgs, statusExit, type Check } from '../../services/status/status.ts';

describe('dependency backoff (services/shared/retry.ts)', () => {
  it('grows ×2 from 200 ms, is bounded by 5 s, and jitters ±20%', () => {
    const mid = (n: number) => backoffDelay(DEPENDENCY_BACKOFF, n, 0.5);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map(mid), [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    assert.equal(backoffDelay(DEPENDENCY_BACKOFF, 1, 0), 160);
    assert.equal(backoffDelay(DEPENDENCY_BACKOFF, 1, 0.999999), 240);
    for (let n = 1; n < 100; n++) assert.ok(backoffDelay(DEPENDENCY_BACKOFF, n, Math.random()) <= 5000);
  });

  it('an outage warns once, repeats are debug, recovery reports its length; readiness names what is missing', () => {
    const d = new DependencyTracker('redis', '10.0.0.1:6379', 1000);
    assert.equal(d.failed('ECONNREFUSED', 1000), 'warn');
    assert.equal(d.failed('ECONNREFUSED', 1200), 'debug');
    assert.equal(d.failed('ECONNREFUSED', 1600), 'debug');
    const r = dependencyReadiness([d]);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.missing.map((m) => [m.name, m.address, m.since, m.attempts, m.lastError]),
      [['redis', '10.0.0.1:6379', new Date(1000).toISOString(), 3, 'ECONNREFUSED']],
    );
    assert.deepEqual(d.succeeded(5000), { downMs: 4000, attempts: 3, first: true });
    assert.equal(d.succeeded(5100), undefined, 'already up');
    assert.equal(dependencyReadiness([d]).ok, true);
    assert.equal(d.failed('closed', 9000), 'warn', 'a new outage warns again');
    assert.equal(d.state().since, new Date(9000).toISOString());
  });

  it('given two clients as members: one outage until both are through, whatever order their reports come in', () => {
    const d = new DependencyTracker('redis', '10.0.0.1:6379', 1000);
    const a = {};
    const b = {};
    assert.equal(d.failed('ECONNREFUSED', 1000, a), 'warn');
    assert.equal(d.failed('ECONNREFUSED', 1100, b), 'debug');
    assert.equal(d.succeeded(2000, a), undefined, 'b is still down');
    assert.equal(dependencyReadiness([d]).ok, false);
    assert.equal(d.failed('ECONNREFUSED', 2500, b), 'debug', "b's late failure is the same outage");
    assert.deepEqual(d.succeeded(3000, b), { downMs: 2000, attempts: 3, first: true });
    assert.equal(d.failed('closed', 9000, b), 'warn', 'a new outage warns again');
  });

  it('redis addresses never carry credentials', () => {
    assert.equal(redisAddress('redis://:secret@cache:6380/0'), 'cache:6380');
    assert.equal(redisAddress('rediss://user:pw@cache'), 'rediss://cache:6379');
  });
});

describe('kafkajs log levels', () => {
  const L = (level: logLevel, message: string, extra: Record<string, unknown> = {}) =>
    kafkaLogLevel(level, message, extra);
  it('broker error responses are debug (the caller retries or reports them)', () => {
    assert.equal(
      L(logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)', { error: 'Topic with this name already exists' }),
      'debug',
    );
    assert.equal(
      L(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2)', {
        error: "The coordinator is loading and hence can't process requests",
      }),
      'debug',
    );
    assert.equal(
      L(logLevel.ERROR, 'Response InitProducerId(key: 22, version: 1)', { error: 'The coordinator is not available' }),
      'debug',
    );
  });
  it('retried conditions are transient warnings; a crash that is not retried, or our own code failing, stays an error', () => {
    assert.equal(L(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'), 'warn-transient');
    assert.equal(
      L(logLevel.ERROR, 'Failed to connect to seed broker, trying another broker from the list: x', {
        retryCount: 0,
        retryTime: 200,
      }),
      'warn-transient',
    );
    assert.equal(
      L(logLevel.ERROR, 'Crash: KafkaJSNoBrokerAvailableError: No broker available', { retryCount: undefined }),
      'warn-transient',
    );
    assert.equal(
      L(logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: Connection error', { retryCount: 5 }),
      'warn-transient',
    );
    assert.equal(
      L(logLevel.ERROR, 'Restarting the consumer in 300ms', { retryCount: 0, retryTime: 300 }),
      'warn-transient',
    );
    assert.equal(
      L(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: Topic authorization failed', { retryCount: undefined }),
      'error',
    );
    assert.equal(L(logLevel.ERROR, 'Error when calling eachBatch', { error: 'boom' }), 'error');
    assert.equal(
      L(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees'),
      'warn',
    );
    assert.equal(L(logLevel.INFO, 'Consumer has joined the group'), 'info');
  });
  it('the first transient warning of a kind per minute is warn, the rest debug', () => {
    const t = new KafkaLogThrottle(60_000);
    assert.equal(t.level('Connection|Connection error: connect ECONNREFUSED 127.0.0.1:9092', 0), 'warn');
    assert.equal(
      t.level('Connection|Connection error: connect ECONNREFUSED 127.0.0.1:9093', 1000),
      'debug',
      'numbers do not make a new kind',
    );
    assert.equal(t.level('BrokerPool|Failed to connect', 1000), 'warn');
    assert.equal(t.level('Connection|Connection error: connect ECONNREFUSED 127.0.0.1:9092', 61_000), 'warn');
  });
});

describe('meshbridge status (pure parts)', () => {
  const c = (outcome: Check['outcome'], core = false): Check => ({ check: 'x', outcome, detail: '', core });
  it('exit codes: 0 healthy, 1 degraded, 3 when Kafka or Redis cannot be reached', () => {
    assert.equal(statusExit([c('ok', true), c('ok'), c('skip'), c('warn')]), 0);
    assert.equal(statusExit([c('ok', true), c('fail')]), 1);
    assert.equal(statusExit([c('ok', true), c('unreachable')]), 1, 'a registry unreachable: degraded');
    assert.equal(statusExit([c('unreachable', true), c('fail')]), 3);
  });
  it('prints an aligned table and parses its flags', () => {
    assert.equal(
      formatTable([
        { check: 'kafka', outcome: 'ok', detail: 'a' },
        { check: 'snapshot', outcome: 'fail', detail: 'b' },
      ]),
      'CHECK     STATUS  DETAIL\nkafka     OK      a\nsnapshot  FAIL    b\n',
    );
    assert.deepEqual(parseStatusArgs(['--json', '--gateway', 'http://a:1', '--gateway=http://b:2']), {
      json: true,
      gateways: ['http://a:1', 'http://b:2'],
      timeoutMs: 10_000,
    });
  });
});
