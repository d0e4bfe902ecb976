import { diffServiceEntry, type ServiceChange } from './instance-diff.ts';
import { toKubeObject } from './render-yaml.ts';

export interface Difference {
  resource: string;
  what: 'missing-in-redis' | 'extra-in-redis' | 'bytes-differ';
  /** For bytes-differ: the first differing byte and both lengths. */
  byteOffset?: number;
  liveBytes?: number;
  replayBytes?: number;
  /** Decoded difference, replay (what the events say) -> live (what Redis holds); absent when a side does not decode. */
  change?: ServiceChange;
  decodeError?: string;
}

export interface VerifyOutcome {
  equal: boolean;
  compared: number;
  differences: number;
  /** The first difference in resource-name order (the one reported precisely). */
  first?: Difference;
  /** Names of every differing resource (bounded in the text output, complete in --json). */
  differing: string[];
}

function firstByte(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Compares the live resources with the replay, byte for byte: the contract is that they are identical. */
export function compareSnapshots(live: Map<string, Buffer>, replay: Map<string, Buffer>): VerifyOutcome {
  const names = [...new Set([...live.keys(), ...replay.keys()])].sort();
  const differing = names.filter((n) => {
    const a = live.get(n);
    const b = replay.get(n);
    return !a || !b || !a.equals(b);
  });
  const out: VerifyOutcome = {
    equal: differing.length === 0,
    compared: names.length,
    differences: differing.length,
    differing,
  };
  if (differing.length > 0) out.first = describe(differing[0]!, live.get(differing[0]!), replay.get(differing[0]!));
  return out;
}

function describe(resource: string, live: Buffer | undefined, replay: Buffer | undefined): Difference {
  const what: Difference['what'] = !live ? 'missing-in-redis' : !replay ? 'extra-in-redis' : 'bytes-differ';
  const d: Difference = { resource, what };
  if (live && replay) {
    d.byteOffset = firstByte(live, replay);
    d.liveBytes = live.length;
    d.replayBytes = replay.length;
  }
  try {
    d.change = diffServiceEntry(resource, replay && toKubeObject(replay), live && toKubeObject(live));
  } catch (e) {
    d.decodeError = `live bytes do not decode as an MCP resource: ${(e as Error).message}`;
  }
  return d;
}
