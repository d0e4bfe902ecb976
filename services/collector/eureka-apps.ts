import type { DataIssue } from '../../schemas/registry-event.ts';

/**
 * Eureka's registry as its REST API returns it (`GET /eureka/apps`, `GET /eureka/apps/delta`, Accept:
 * application/json), and the client side of its delta protocol — pure, no I/O.
 *
 * A Eureka client keeps a full copy of the registry and, every refresh, asks for the delta: the instances added,
 * modified or deleted recently (the server keeps about three minutes of them). It applies them to its copy and then
 * compares the copy's reconcile hash code with the `apps__hashcode` the server sent along — the count of instances
 * per status over the whole registry, e.g. `DOWN_1_UP_12_`. A mismatch (a missed delta, a delta older than the
 * server's retention, a different peer) means the copy is wrong: the client re-reads everything. This is the same
 * algorithm Eureka's own DiscoveryClient runs.
 */

/** One registered instance: the fields meshbridge reads (the rest of Eureka's InstanceInfo is dropped). */
export interface EurekaInstance {
  /** instanceId, or hostName when the instance has none (as Eureka's InstanceInfo.getId()). */
  id: string;
  app: string;
  /** UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN (an overridden status is already applied by the server). */
  status: string;
  ipAddr: string;
  hostName: string;
  /** Non-secure port and whether it is enabled. */
  port: number | undefined;
  portEnabled: boolean;
  securePort: number | undefined;
  securePortEnabled: boolean;
  metadata: Record<string, string>;
  vipAddress: string | undefined;
  lastDirtyTimestamp: string | undefined;
}

/** app name -> instance id -> instance. Treated as immutable: a delta yields a new map sharing unchanged apps. */
export type EurekaApps = ReadonlyMap<string, ReadonlyMap<string, EurekaInstance>>;

export type DeltaAction = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface AppsDocument {
  /** Every instance of the document, with its delta action (undefined in a full listing). */
  entries: { app: string; instance: EurekaInstance; action: DeltaAction | undefined }[];
  /** The server's reconcile hash code of its whole registry; undefined when absent. */
  hashcode: string | undefined;
  /** Parts of the document that could not be read: reported, left out. */
  issues: DataIssue[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
/** Eureka's JSON codecs write a one-element list either as a list or as the element itself. */
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const clip = (v: unknown, n = 256) => (JSON.stringify(v ?? null) ?? '').slice(0, n);

/** `{"$": 8080, "@enabled": "true"}` (or a bare number) -> port and flag; a missing port is disabled. */
function portOf(v: unknown): { port: number | undefined; enabled: boolean } {
  const raw = isObj(v) ? v.$ : v;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
  const flag = isObj(v) ? v['@enabled'] : undefined;
  return { port: n, enabled: n !== undefined && (flag === undefined || flag === true || flag === 'true') };
}

/**
 * Reads a `{"applications": {...}}` document. A document that is not one throws (nothing in it can be trusted); an
 * application or instance that cannot be read becomes an issue and is left out, never the rest.
 */
export function parseAppsDocument(body: unknown): AppsDocument {
  const root = isObj(body) ? body.applications : undefined;
  if (!isObj(root)) throw new Error(`not a Eureka applications document: ${clip(body, 120)}`);
  const issues: DataIssue[] = [];
  const entries: AppsDocument['entries'] = [];
  for (const [i, a] of list(root.application).entries()) {
    const name = isObj(a) ? str(a.name) : undefined;
    if (!name) {
      issues.push({
        field: `application[${i}]`,
        value: clip(a),
        reason: 'application without a name',
        action: 'application skipped',
      });
      continue;
    }
    for (const [j, raw] of list((a as Record<string, unknown>).instance).entries()) {
      const where = `application[${name}].instance[${j}]`;
      if (!isObj(raw)) {
        issues.push({
          field: where,
          value: clip(raw),
          reason: 'instance is not an object',
          action: 'instance skipped',
        });
        continue;
      }
      const hostName = str(raw.hostName) ?? '';
      const id = str(raw.instanceId) || hostName;
      if (!id) {
        issues.push({
          field: where,
          value: clip(raw),
          reason: 'instance has neither instanceId nor hostName',
          action: 'instance skipped',
        });
        continue;
      }
      const action = str(raw.actionType);
      const known = action === 'ADDED' || action === 'MODIFIED' || action === 'DELETED';
      if (action !== undefined && !known) {
        issues.push({
          field: `${where}.actionType`,
          value: action.slice(0, 32),
          reason: 'not ADDED, MODIFIED or DELETED',
          action: 'instance skipped',
        });
        continue;
      }
      const p = portOf(raw.port);
      const sp = portOf(raw.securePort);
      const metadata = isObj(raw.metadata)
        ? Object.fromEntries(
            Object.entries(raw.metadata).flatMap(([k, v]) => (str(v) !== undefined ? [[k, str(v)!]] : [])),
          )
        : {};
      entries.push({
        app: name,
        action: known ? action : undefined,
        instance: {
          id,
          app: name,
          status: str(raw.status) ?? 'UNKNOWN',
          ipAddr: str(raw.ipAddr) ?? '',
          hostName,
          port: p.port,
          portEnabled: p.enabled,
          securePort: sp.port,
          securePortEnabled: sp.enabled,
          metadata,
          vipAddress: str(raw.vipAddress),
          lastDirtyTimestamp: str(raw.lastDirtyTimestamp),
        },
      });
    }
  }
  return { entries, hashcode: str(root.apps__hashcode), issues };
}

/** The registry a full listing describes. */
export function appsFromDocument(doc: AppsDocument): EurekaApps {
  const apps = new Map<string, Map<string, EurekaInstance>>();
  for (const { app, instance } of doc.entries) {
    const m = apps.get(app) ?? new Map<string, EurekaInstance>();
    apps.set(app, m);
    m.set(instance.id, instance);
  }
  return apps;
}

/**
 * Eureka's reconcile hash code: `<STATUS>_<count>_` per status over every instance, statuses in (Java String)
 * order; the empty registry is the empty string.
 */
export function reconcileHashCode(apps: EurekaApps): string {
  const counts = new Map<string, number>();
  for (const m of apps.values()) for (const i of m.values()) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
  return [...counts.keys()]
    .sort()
    .map((s) => `${s}_${counts.get(s)}_`)
    .join('');
}

/**
 * Applies a delta: ADDED and MODIFIED put the instance (by id, replacing), DELETED removes it and an application left
 * without instances goes. Idempotent, as the server repeats a change in every delta until it ages out.
 */
export function applyDelta(apps: EurekaApps, delta: AppsDocument): { apps: EurekaApps; changed: string[] } {
  const next = new Map(apps);
  const copied = new Set<string>();
  const changed = new Set<string>();
  const writable = (app: string): Map<string, EurekaInstance> => {
    if (!copied.has(app)) {
      next.set(app, new Map(next.get(app) ?? []));
      copied.add(app);
    }
    return next.get(app) as Map<string, EurekaInstance>;
  };
  for (const { app, instance, action } of delta.entries) {
    if (action === 'DELETED') {
      if (!next.get(app)?.has(instance.id)) continue;
      const m = writable(app);
      m.delete(instance.id);
      if (m.size === 0) next.delete(app);
      changed.add(app);
    } else if (action !== undefined) {
      const cur = next.get(app)?.get(instance.id);
      if (cur && sameInstance(cur, instance)) continue;
      writable(app).set(instance.id, instance);
      changed.add(app);
    }
  }
  return { apps: next, changed: [...changed].sort() };
}

function sameInstance(a: EurekaInstance, b: EurekaInstance): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export type RefreshStep =
  | { type: 'apply'; apps: EurekaApps; changed: string[] }
  | { type: 'full-fetch'; reason: 'hashcode-mismatch' | 'no-hashcode'; expected: string | undefined; got: string };

/**
 * One refresh: the delta applied to the copy, checked against the server's hash code. On a mismatch nothing of the
 * delta may be published — the copy is wrong in some way the delta does not show — and a full fetch replaces it.
 */
export function refreshWithDelta(apps: EurekaApps, delta: AppsDocument): RefreshStep {
  const applied = applyDelta(apps, delta);
  const got = reconcileHashCode(applied.apps);
  if (delta.hashcode === undefined) return { type: 'full-fetch', reason: 'no-hashcode', expected: undefined, got };
  if (delta.hashcode !== got) return { type: 'full-fetch', reason: 'hashcode-mismatch', expected: delta.hashcode, got };
  return { type: 'apply', apps: applied.apps, changed: applied.changed };
}
