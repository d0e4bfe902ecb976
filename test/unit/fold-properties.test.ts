import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RegistryEvent } from '../../schemas/registry-event.ts';
import { Replay } from '../../projection/replay.ts';
import { foldBatch } from '../../projection/fold-batch.ts';
import { emptyPartitionState, type PartitionState } from '../../projection/fold-state.ts';
import { decodePartitionState, encodePartitionState } from '../../projection/fold-codec.ts';
import { buildServiceEntry } from '../../projection/build-service-entry.ts';
import { decodeResource } from '../../schemas/mcp-envelope.ts';
import { endpointPortsAsIstiodReads } from '../../schemas/service-entry/endpoint-ports.ts';
import { everyPortEntryName, hostEntryName, hostEntryNames } from '../../schemas/port-entry-name.ts';
import { parseResourceField } from '../../snapshot-store/resource-field.ts';

/**
 * Properties of the pure fold (evolve + foldBatch + Replay), over generated event streams that mix every kind of
 * event, several sources and epochs, missing and out-of-order registry tokens, invalid data and resync markers:
 * (and two-protocol services whose providers serve one protocol or both):
 * - deterministic: the same events give the same bytes and the same state;
 * - insensitive to duplicates: an event delivered twice in a row changes nothing;
 * - batch-boundary independent: any split of the stream into batches gives the same result;
 * - reload-equivalent: persisting the state as Redis holds it and reloading it at any point changes nothing
 *   (what a crash or a rebalance does to the live projector).
 */
const HOSTS = ['a.example.local', 'b.example.local', 'c.example.local'];
const SOURCES = ['zk1', 'dc1'];
const key = (h: string) => `dubbo/${h}`;

const instance = fc.record({
  address: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', 'not-an-ip'),
  port: fc.constantFrom(20880, 20881),
  version: fc.constantFrom('1.0.0', '2.0.0', 'bad value'),
});

const event: fc.Arbitrary<RegistryEvent> = fc
  .record({
    kind: fc.constantFrom('SERVICE_STATE', 'SERVICE_STATE', 'SERVICE_STATE', 'SERVICE_REMOVED', 'RESYNC_END'),
    source: fc.constantFrom(...SOURCES),
    epoch: fc.integer({ min: 1, max: 3 }),
    host: fc.constantFrom(...HOSTS),
    token: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null }),
    instances: fc.uniqueArray(instance, { maxLength: 3, selector: (i) => i.address }),
    portName: fc.constantFrom('tcp-dubbo', 'tcp-dubbo', 'http'),
    observedAt: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
    // v3 sequence numbers (arbitrary, so re-deliveries and tombstones happen), or none as in v1/v2 events.
    seq: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    resynced: fc.subarray(HOSTS),
  })
  .map((g) => {
    const base = {
      eventId: `e-${g.observedAt}`,
      sourceId: g.source,
      sourceKind: 'zookeeper-dubbo',
      collectorId: 'c',
      epoch: g.epoch,
      generation: 'g',
      observedAt: g.observedAt,
      registryService: g.host,
      orderToken: g.token,
      issues: [],
      resyncServices: [],
      raw: null,
      ...(g.seq ? { seq: g.seq } : {}),
    };
    if (g.kind === 'RESYNC_END') {
      return {
        ...base,
        kind: 'RESYNC_END',
        namespace: '',
        host: '',
        orderToken: null,
        ports: [],
        instances: [],
        resyncServices: g.resynced.map(key).sort(),
      } as RegistryEvent;
    }
    if (g.kind === 'SERVICE_REMOVED')
      return {
        ...base,
        kind: 'SERVICE_REMOVED',
        namespace: 'dubbo',
        host: g.host,
        ports: [],
        instances: [],
      } as RegistryEvent;
    const port = g.instances[0]?.port ?? 20880;
    return {
      ...base,
      kind: 'SERVICE_STATE',
      namespace: 'dubbo',
      host: g.host,
      ports: g.instances.length > 0 ? [{ name: g.portName, number: port, protocol: 'TCP' }] : [],
      instances: g.instances.map((i) => ({
        address: i.address,
        ports: { [g.portName]: i.port },
        labels: { 'meshbridge.io/source': g.source, version: i.version },
        weight: 100,
        locality: '',
      })),
    } as RegistryEvent;
  });

/** A two-protocol service whose providers serve one protocol or both (a Dubbo fleet moving to triple). */
const TWO_PORTS = [
  { name: 'tcp-dubbo', number: 20880, protocol: 'TCP' },
  { name: 'tcp-tri', number: 50051, protocol: 'TCP' },
];
const twoProtocolEvent: fc.Arbitrary<RegistryEvent> = fc
  .record({
    source: fc.constantFrom(...SOURCES),
    host: fc.constantFrom(...HOSTS),
    observedAt: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
    serves: fc.uniqueArray(
      fc.record({
        address: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3'),
        ports: fc.subarray(TWO_PORTS, { minLength: 1 }),
      }),
      { maxLength: 3, selector: (i) => i.address },
    ),
  })
  .map(
    (g) =>
      ({
        eventId: `m-${g.observedAt}`,
        sourceId: g.source,
        sourceKind: 'zookeeper-dubbo',
        collectorId: 'c',
        epoch: 3,
        generation: 'g',
        observedAt: g.observedAt,
        registryService: g.host,
        orderToken: null,
        issues: [],
        resyncServices: [],
        raw: null,
        kind: 'SERVICE_STATE',
        namespace: 'dubbo',
        host: g.host,
        ports: g.serves.length > 0 ? TWO_PORTS : [],
        instances: g.serves.map((i) => ({
          address: i.address,
          ports: Object.fromEntries(i.ports.map((p) => [p.name, p.number])),
          labels: { 'meshbridge.io/source': g.source },
          weight: 0,
          locality: '',
        })),
      }) as RegistryEvent,
  );
const stream = fc.array(fc.oneof(event, twoProtocolEvent), { minLength: 1, maxLength: 60 });

/** Everything observable about a fold: resource bytes, completeness, and the state as Redis would hold it. */
function outcome(replay: Replay): string {
  const resources = [...replay.resources]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([f, b]) => [f, b.toString('base64')]);
  const states = [...replay.partitions].sort(([a], [b]) => a - b).map(([p, s]) => [p, canonicalState(s)]);
  const resynced = [...replay.resynced].sort(([a], [b]) => (a < b ? -1 : 1)).map(([s, ps]) => [s, [...ps].sort()]);
  return JSON.stringify({ resources, states, resynced });
}

function canonicalState(s: PartitionState) {
  const { services, meta } = encodePartitionState(s);
  return {
    services: Object.entries(services).sort(([a], [b]) => (a < b ? -1 : 1)),
    meta: Object.entries(meta).sort(([a], [b]) => (a < b ? -1 : 1)),
  };
}

function replayIn(batches: RegistryEvent[][]): Replay {
  const r = new Replay();
  for (const b of batches) r.apply(0, b);
  return r;
}

/** Splits `events` at the given cut points (indices, any order, duplicates allowed). */
function split<T>(events: T[], cuts: number[]): T[][] {
  const at = [...new Set(cuts.map((c) => c % (events.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const c of [...at, events.length]) {
    out.push(events.slice(prev, c));
    prev = c;
  }
  return out;
}

const RUNS = { numRuns: 400 };

describe('the fold (property-based)', () => {
  it('is deterministic: the same events give byte-identical resources and identical state', () => {
    let withResources = 0;
    let withIgnored = 0;
    fc.assert(
      fc.property(stream, (events) => {
        const a = replayIn([structuredClone(events)]);
        assert.equal(outcome(a), outcome(replayIn([structuredClone(events)])));
        if (a.resources.size > 0) withResources++;
        if (a.ignored > 0) withIgnored++;
      }),
      RUNS,
    );
    // The generator must exercise the interesting paths, not just produce empty folds.
    assert.ok(
      withResources > RUNS.numRuns / 4 && withIgnored > RUNS.numRuns / 4,
      `${withResources} runs with resources, ${withIgnored} with ignored events`,
    );
  });

  it('is insensitive to duplicates: any events delivered twice in a row change nothing', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (events, picks) => {
        const dup = new Set(picks.map((p) => p % events.length));
        const withDuplicates = events.flatMap((e, i) => (dup.has(i) ? [e, structuredClone(e)] : [e]));
        assert.equal(outcome(replayIn([withDuplicates])), outcome(replayIn([events])));
      }),
      RUNS,
    );
  });

  it('is batch-boundary independent: any split into batches gives the same result', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (events, cuts) => {
        assert.equal(outcome(replayIn(split(events, cuts))), outcome(replayIn([events])));
      }),
      RUNS,
    );
  });

  it('continues identically from its stored form (crash / rebalance reload at any batch boundary)', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 6 }), (events, cuts) => {
        const reference = emptyPartitionState();
        foldBatch(reference, events);
        let state = emptyPartitionState();
        for (const batch of split(events, cuts)) {
          foldBatch(state, batch);
          const stored = encodePartitionState(state);
          state = decodePartitionState(stored.services, stored.meta);
        }
        assert.deepEqual(canonicalState(state), canonicalState(reference));
      }),
      RUNS,
    );
  });

  it('produces resources only from valid data: every resource decodes and names a known host', () => {
    fc.assert(
      fc.property(stream, (events) => {
        const r = replayIn([events]);
        for (const f of r.resources.keys())
          assert.ok(
            HOSTS.some((h) => hostEntryName(parseResourceField(f).name) === key(h)),
            f,
          );
      }),
      RUNS,
    );
  });

  // Providers serving one protocol or both, and sources that name different ports (zk1's tcp-dubbo next to dc1's
  // http): the endpoints of a host often serve only some of its ports: istiod must never list one under a port it does not serve, and every
  // port an endpoint serves must list it (projection/split-ports.ts).
  it('lists every endpoint under exactly the ports it serves, across the entries of its host', () => {
    fc.assert(
      fc.property(stream, (events) => {
        const r = replayIn([events]);
        const served = new Map<string, string[]>();
        for (const [f, bytes] of r.resources) {
          const { name, body } = decodeResource(bytes);
          const spec = body as {
            ports: { name: string; number: number }[];
            endpoints?: { address: string; ports?: Record<string, number> }[];
          };
          const host = hostEntryName(name);
          if (name !== host)
            assert.ok(r.resources.has(`ServiceEntry|${everyPortEntryName(host)}`), `${f} without its every-port entry`);
          // As istiod reads them: an endpoint is listed under every port of its entry (on the service port's number
          // where it names none), so one listed under a port it does not serve shows up below as one too many.
          for (const ep of spec.endpoints ?? []) {
            for (const [port, number] of Object.entries(endpointPortsAsIstiodReads(spec.ports, ep.ports))) {
              const list = served.get(host) ?? [];
              list.push(`${ep.address}|${port}=${number}`);
              served.set(host, list);
            }
          }
        }
        for (const [k, fold] of r.partitions.get(0)?.services ?? []) {
          const built = buildServiceEntry(fold);
          const names = hostEntryNames(k, fold.splitPorts);
          if (!built.ok || !names.every((n) => r.resources.has(`ServiceEntry|${n}`))) continue;
          const want = built.value.body.endpoints.flatMap((ep) =>
            Object.entries(ep.ports ?? {}).map(([p, n]) => `${ep.address}|${p}=${n}`),
          );
          assert.deepEqual((served.get(k) ?? []).sort(), want.sort(), `${k}: endpoints by port`);
        }
      }),
      RUNS,
    );
  });
});
