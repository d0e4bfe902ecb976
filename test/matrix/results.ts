/** The matrix's result records and their table (pure: test/matrix/run.ts does the I/O). */
export interface MatrixResult {
  combination: string;
  neighbour: string;
  version: string;
  test: string;
  status: 'pass' | 'fail' | 'install failed';
  seconds: number;
  /** Install time of the combination's scripts/install.sh targets, on its first test only (cold if not cached). */
  installSeconds?: number;
  /** When the test ran (ISO time). */
  at: string;
  log: string;
}

/** The newest result per combination and test wins; results of combinations not run this time are kept. */
export function mergeResults(previous: MatrixResult[], latest: MatrixResult[]): MatrixResult[] {
  const key = (r: MatrixResult) => `${r.combination}\u0000${r.test}`;
  const byKey = new Map(previous.map((r) => [key(r), r]));
  for (const r of latest) byKey.set(key(r), r);
  return [...byKey.values()].sort((a, b) => a.combination.localeCompare(b.combination) || a.test.localeCompare(b.test));
}

export function renderTable(results: MatrixResult[]): string {
  const lines = [
    '# Version matrix results',
    '',
    'Written by `npm run test:matrix` (test/matrix/run.ts); docs/versions.md says what each combination proves.',
    '"install s" is the scripts/install.sh time in that run, on the first test of a combination (near 0 when cached;',
    'cold install times are in docs/versions.md).',
    '',
    '| combination | neighbour | version | e2e test | result | test s | install s | ran at (UTC) |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map((r) => {
      const at = r.at.slice(0, 16).replace('T', ' ');
      const cells = [r.combination, r.neighbour, r.version, r.test, r.status, r.seconds, r.installSeconds ?? '', at];
      return `| ${cells.join(' | ')} |`;
    }),
    '',
  ];
  return lines.join('\n');
}
