/**
 * The version matrix: which neighbour versions the e2e tests run against besides the defaults (docs/versions.md).
 * Each combination changes one neighbour from the default set (Kafka 3.9.1, Debian's ZooKeeper 3.8, Consul 1.22.0,
 * Dubbo 3.2.14, istiod 1.30-b01690e6) and runs the e2e tests that exercise that neighbour.
 */
export interface Combination {
  /** Name used on the command line (`npm run test:matrix -- <name> ...`) and in the result table. */
  name: string;
  /** The neighbour and version under test, as the result table shows it. */
  neighbour: string;
  version: string;
  /** Environment the install and the tests run with (harness/paths.ts `versions`, scripts/install.sh). */
  env: Record<string, string>;
  /** scripts/install.sh targets to install (timed: a cold run reports the install cost). */
  install: string[];
  /** test/e2e files (without directory and .test.ts). */
  tests: string[];
  /** Run on every `npm test` (cheap to install, high risk); the rest only in `npm run test:matrix`. */
  inNpmTest?: boolean;
}

/** The e2e core on the event log: the whole pipeline, the projector under crashes and rebalances, audit replay. */
const KAFKA_CORE = ['dubbo-to-istiod', 'projector-crash', 'projector-rebalance', 'audit-replay'];
/**
 * What a different istiod must pass: the gateway protocol, the Dubbo pipeline as istiod holds and serves it, and how
 * it merges the ServiceEntries of a host split by port (projection/split-ports.ts).
 */
const ISTIOD_TESTS = ['gateway-protocol', 'dubbo-to-istiod', 'collector-dubbo-java', 'dubbo-protocol-split'];

export const COMBINATIONS: Combination[] = [
  {
    name: 'kafka-4-pipeline',
    neighbour: 'Kafka',
    version: '4.4.0',
    env: { MESHBRIDGE_KAFKA_VERSION: '4.4.0' },
    install: ['kafka'],
    tests: ['dubbo-to-istiod'],
    inNpmTest: true,
  },
  {
    name: 'kafka-4',
    neighbour: 'Kafka',
    version: '4.4.0',
    env: { MESHBRIDGE_KAFKA_VERSION: '4.4.0' },
    install: ['kafka'],
    tests: KAFKA_CORE,
  },
  {
    // SASL_SSL with PLAIN and SCRAM: how managed Kafka services are reached.
    name: 'kafka-4-secure',
    neighbour: 'Kafka',
    version: '4.4.0',
    env: { MESHBRIDGE_KAFKA_VERSION: '4.4.0' },
    install: ['kafka'],
    tests: ['secure-transports'],
  },
  {
    name: 'kafka-4.0',
    neighbour: 'Kafka',
    version: '4.0.0',
    env: { MESHBRIDGE_KAFKA_VERSION: '4.0.0' },
    install: ['kafka'],
    tests: ['dubbo-to-istiod', 'projector-rebalance'],
  },
  {
    name: 'zookeeper-3.9',
    neighbour: 'ZooKeeper',
    version: '3.9.5',
    env: { MESHBRIDGE_ZOOKEEPER_VERSION: '3.9.5' },
    install: ['zookeeper'],
    tests: ['dubbo-to-istiod', 'collector-dubbo-java', 'collector-zookeeper-recovery'],
  },
  {
    name: 'dubbo-2.7',
    neighbour: 'Dubbo provider',
    version: '2.7.23',
    env: { MESHBRIDGE_DUBBO_VERSION: '2.7.23' },
    install: [],
    tests: ['collector-dubbo-java'],
  },
  {
    name: 'dubbo-3.3',
    neighbour: 'Dubbo provider',
    version: '3.3.6',
    env: { MESHBRIDGE_DUBBO_VERSION: '3.3.6' },
    install: [],
    tests: ['collector-dubbo-java'],
  },
  {
    name: 'consul-1.21',
    neighbour: 'Consul',
    version: '1.21.0',
    env: { MESHBRIDGE_CONSUL_VERSION: '1.21.0' },
    install: ['consul'],
    tests: ['consul-collector', 'consul-to-istiod'],
  },
  {
    name: 'istiod-1.31',
    neighbour: 'istiod',
    version: '1.31-eed52ebb',
    env: { MESHBRIDGE_ISTIO_VERSION: '1.31-eed52ebb' },
    install: ['istiod'],
    tests: ISTIOD_TESTS,
  },
  {
    name: 'istiod-1.30-9739e10e',
    neighbour: 'istiod',
    version: '1.30-9739e10e-nearest-deps',
    env: { MESHBRIDGE_ISTIO_VERSION: '1.30-9739e10e-nearest-deps' },
    install: ['istiod'],
    tests: ISTIOD_TESTS,
  },
];

/** The combinations named (all but the npm-test subset when none are named); unknown names are an error. */
export function select(names: string[], all: Combination[] = COMBINATIONS): Combination[] {
  if (names.length === 0) return all.filter((c) => !c.inNpmTest);
  if (names.length === 1 && names[0] === '--npm-test') return all.filter((c) => c.inNpmTest);
  const unknown = names.filter((n) => !all.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`unknown combination(s) ${unknown.join(', ')}; known: ${all.map((c) => c.name).join(', ')}`);
  }
  return all.filter((c) => names.includes(c.name));
}
