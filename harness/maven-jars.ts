import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Resolves the runtime jars of `dependencies` (a POM's <dependency> elements) from Maven Central into `libs`, once:
 * a `.complete` marker written last makes later calls free, and an interrupted resolve starts over. `what` names the
 * jars in the progress line and the error. Throws (never skips) when Maven fails.
 */
export function resolveJars(libs: string, what: string, dependencies: string): string {
  if (fs.existsSync(path.join(libs, '.complete'))) return libs;
  process.stderr.write(`meshbridge: resolving ${what} jars from Maven Central into ${libs}\n`);
  fs.rmSync(libs, { recursive: true, force: true });
  const pomDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-pom-'));
  fs.writeFileSync(
    path.join(pomDir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>meshbridge</groupId><artifactId>harness-runtime</artifactId><version>1</version>
  <dependencies>
${dependencies}
  </dependencies>
</project>`,
  );
  const mvn = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      path.join(pomDir, 'pom.xml'),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  fs.rmSync(pomDir, { recursive: true, force: true });
  if (mvn.status !== 0) throw new Error(`resolving ${what} from Maven Central failed (mvn exit ${mvn.status})`);
  fs.writeFileSync(path.join(libs, '.complete'), '');
  return libs;
}
