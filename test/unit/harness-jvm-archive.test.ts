import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jvmArchive, settleOnExit } from '../../harness/jvm-archive.ts';

/** A directory with an executable named `java` (the archive is keyed by the binary, never run here). */
function fakeJava(): { env: NodeJS.ProcessEnv; dir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'jvm-archive-'));
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'java'), '#!/bin/sh\n', { mode: 0o755 });
  return { env: { PATH: bin }, dir: path.join(root, 'archives') };
}

/** What the JVM would do at exit with -XX:ArchiveClassesAtExit=<file>. */
function dumpAtExit(args: string[]): string {
  const tmp = args[0]?.replace('-XX:ArchiveClassesAtExit=', '');
  assert.ok(tmp && tmp !== args[0], `expected a dump flag, got ${args.join(' ')}`);
  fs.writeFileSync(tmp, 'archive');
  return tmp;
}

describe('harness JVM class archives', () => {
  it('a first start dumps into a private file; a served start with a clean exit makes it the archive', () => {
    const { env, dir } = fakeJava();
    const first = jvmArchive('kafka-broker', '/k/libs/*', { env, dir });
    const tmp = dumpAtExit(first.args);
    first.settle(true);
    assert.equal(fs.existsSync(tmp), false);
    const next = jvmArchive('kafka-broker', '/k/libs/*', { env, dir });
    assert.equal(next.args.length, 1);
    assert.match(next.args[0]!, /^-XX:SharedArchiveFile=.*kafka-broker-[0-9a-f]{16}\.jsa$/);
    assert.ok(fs.existsSync(next.args[0]!.split('=')[1]!));
  });

  it('a killed or failed start leaves nothing behind, and the next start dumps again', () => {
    const { env, dir } = fakeJava();
    const first = jvmArchive('zookeeper', '/zk.jar', { env, dir });
    const tmp = dumpAtExit(first.args);
    first.settle(false);
    assert.equal(fs.existsSync(tmp), false);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.match(jvmArchive('zookeeper', '/zk.jar', { env, dir }).args[0]!, /^-XX:ArchiveClassesAtExit=/);
  });

  it('settleOnExit keeps the archive only of a server that served and then exited with a code', async () => {
    const cases: Array<[served: boolean, code: number | null, kept: boolean]> = [
      [true, 143, true], // stopped with SIGTERM: the JVM exits 143 after its shutdown hooks
      [true, -1, false], // killed (the harness reports a signal as -1)
      [false, 1, false], // failed at start, e.g. its port was taken
    ];
    for (const [served, code, kept] of cases) {
      const { env, dir } = fakeJava();
      const a = jvmArchive('zookeeper', '/zk.jar', { env, dir });
      dumpAtExit(a.args);
      let exit!: (c: number | null) => void;
      const markServed = settleOnExit(a, { wait: () => new Promise((r) => (exit = r)) });
      if (served) markServed();
      exit(code);
      await new Promise((r) => setImmediate(r));
      assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.jsa')).length, kept ? 1 : 0, `${served} ${code}`);
    }
  });

  it('keys by java binary and class path; a new Kafka version or another java gets its own archive', () => {
    const { env, dir } = fakeJava();
    const name = (cp: string, e: NodeJS.ProcessEnv) => {
      const a = jvmArchive('kafka-broker', cp, { env: e, dir });
      dumpAtExit(a.args);
      a.settle(true);
      return jvmArchive('kafka-broker', cp, { env: e, dir }).args[0];
    };
    const other = fakeJava();
    fs.appendFileSync(path.join(other.env.PATH!, 'java'), 'another build\n');
    const names = new Set([
      name('/k/3.9.1/libs/*', env),
      name('/k/4.4.0/libs/*', env),
      name('/k/3.9.1/libs/*', other.env),
    ]);
    assert.equal(names.size, 3);
  });

  it('is off with MESHBRIDGE_JVM_ARCHIVES=0 or without java on PATH, and clears temporary files of JVMs long gone', () => {
    const { env, dir } = fakeJava();
    assert.deepEqual(
      jvmArchive('zookeeper', '/zk.jar', { env: { ...env, MESHBRIDGE_JVM_ARCHIVES: '0' }, dir }).args,
      [],
    );
    assert.deepEqual(jvmArchive('zookeeper', '/zk.jar', { env: { PATH: '/nonexistent' }, dir }).args, []);
    fs.mkdirSync(dir, { recursive: true });
    const orphan = path.join(dir, 'zookeeper-0.jsa.1-abc.tmp');
    const recent = path.join(dir, 'zookeeper-0.jsa.2-def.tmp');
    fs.writeFileSync(orphan, '');
    fs.writeFileSync(recent, '');
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(orphan, hourAgo, hourAgo);
    jvmArchive('zookeeper', '/zk.jar', { env, dir });
    assert.equal(fs.existsSync(orphan), false);
    assert.equal(fs.existsSync(recent), true);
  });
});
