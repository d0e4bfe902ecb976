import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from './paths.ts';

/**
 * Class data sharing (a dynamic CDS archive, JDK 13+) for the JVM servers the harness starts over and over: Kafka's
 * broker and storage tool, ZooKeeper. Most of a short-lived broker's start is loading and verifying the same ~6,000
 * classes every time; an archive of them, mapped read-only, skips that. Measured on this 2-core machine (docs/testing.md,
 * "JVM class archives"): Kafka's broker ready in ~2.0 instead of ~3.3 s of CPU, ZooKeeper ~0.64 instead of ~0.92.
 *
 * The first start of a server writes its archive at exit (-XX:ArchiveClassesAtExit, into a private temporary file)
 * and the harness adopts it only after a start that served and a clean exit, so a killed JVM never leaves a half-written
 * archive behind and a failed start (a port taken) never a partial one.
 * An archive is keyed by the java binary and the class path: the JVM also checks both itself and, with the default
 * -Xshare:auto, starts without an archive it cannot use. MESHBRIDGE_JVM_ARCHIVES=0 turns the whole thing off.
 */
export interface JvmArchive {
  /** JVM options to put before the main class. */
  args: string[];
  /**
   * Call once the JVM has exited: keep = it served and exited on its own (not killed, not failed at start), so what
   * it wrote holds the classes of a whole start and is complete. Otherwise the file is discarded.
   */
  settle(keep: boolean): void;
}

const NONE: JvmArchive = { args: [], settle() {} };
/** A temporary archive older than this is an orphan (its JVM outlived the process that started it): removed. */
const ORPHAN_MS = 30 * 60_000;

export function jvmArchive(
  name: string,
  classPath: string,
  { env = process.env, dir = path.join(cacheDir, 'jvm-archives') }: { env?: NodeJS.ProcessEnv; dir?: string } = {},
): JvmArchive {
  if (env.MESHBRIDGE_JVM_ARCHIVES === '0') return NONE;
  const java = javaIdentity(env.PATH ?? '');
  if (!java) return NONE;
  const file = path.join(dir, `${name}-${archiveKey(java, classPath)}.jsa`);
  if (fs.existsSync(file)) return { args: [`-XX:SharedArchiveFile=${file}`], settle() {} };
  fs.mkdirSync(dir, { recursive: true });
  removeOrphans(dir, Date.now());
  const tmp = `${file}.${process.pid}-${crypto.randomBytes(3).toString('hex')}.tmp`;
  return {
    args: [`-XX:ArchiveClassesAtExit=${tmp}`],
    settle(keep) {
      try {
        if (keep && fs.existsSync(tmp)) fs.renameSync(tmp, file);
        else fs.rmSync(tmp, { force: true });
      } catch {
        // Only an accelerator: the next start tries again.
      }
    },
  };
}

/**
 * For a long-running server: settles its archive when it exits. Call the returned function once the server has
 * served (is ready): only then does its archive hold a whole start's classes.
 */
export function settleOnExit(archive: JvmArchive, proc: { wait(): Promise<number | null> }): () => void {
  let served = false;
  void proc.wait().then((code) => archive.settle(served && code !== null && code >= 0));
  return () => {
    served = true;
  };
}

/** Stable for one java binary (its resolved path, size and time) and one class path, in that order. */
function archiveKey(java: string, classPath: string): string {
  return crypto.createHash('sha256').update(java).update('\0').update(classPath).digest('hex').slice(0, 16);
}

/** Per PATH: a Kafka start asks twice (storage tool, broker), a test file many times; the binary does not change. */
const javaByPath = new Map<string, string | undefined>();

/** The `java` that a spawn would run, resolved through PATH and symlinks (Debian's alternatives), with its stat. */
function javaIdentity(searchPath: string): string | undefined {
  if (!javaByPath.has(searchPath)) javaByPath.set(searchPath, findJava(searchPath));
  return javaByPath.get(searchPath);
}

function findJava(searchPath: string): string | undefined {
  for (const d of searchPath.split(path.delimiter)) {
    if (!d) continue;
    try {
      const real = fs.realpathSync(path.join(d, 'java'));
      const st = fs.statSync(real);
      if (st.isFile()) return `${real}:${st.size}:${st.mtimeMs}`;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function removeOrphans(dir: string, now: number): void {
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.tmp')) continue;
    const p = path.join(dir, f);
    try {
      if (now - fs.statSync(p).mtimeMs > ORPHAN_MS) fs.rmSync(p, { force: true });
    } catch {
      // raced with its own JVM's settle
    }
  }
}
