/**
 * istiod settings a benchmark run adds over the harness's (ISTIOD_RECOMMENDED_ENV), as given in BENCH_ISTIOD_ENV:
 * 'NAME=value,NAME=value'. Shared by bench:e2e and bench:istiod-floor so both read the knob alike.
 */
export function parseIstiodEnv(text: string | undefined): Record<string, string> {
  return Object.fromEntries(
    (text ?? '')
      .split(',')
      .filter(Boolean)
      // Split at the first '=' only: a value may hold one (GODEBUG=gctrace=1).
      .map((kv) => {
        const eq = kv.indexOf('=');
        if (eq < 1) throw new Error(`BENCH_ISTIOD_ENV: '${kv}' is not NAME=value`);
        return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string];
      }),
  );
}

/**
 * Settings that do not do what they look like, given the environment istiod will run with. Session 22's 50,000-service
 * run set PILOT_DEBOUNCE_AFTER / _MAX for "EDS debounce 100 / 500 ms" but left PILOT_ENABLE_EDS_DEBOUNCE at the
 * harness's false, so endpoint pushes were not debounced at all and the run measured something else than its name.
 */
export function istiodEnvWarnings(env: Readonly<Record<string, string>>): string[] {
  const warnings: string[] = [];
  const timing = ['PILOT_DEBOUNCE_AFTER', 'PILOT_DEBOUNCE_MAX'].filter((k) => env[k] !== undefined);
  if (timing.length > 0 && env.PILOT_ENABLE_EDS_DEBOUNCE !== 'true') {
    warnings.push(
      `${timing.join(' and ')} set while PILOT_ENABLE_EDS_DEBOUNCE is ${env.PILOT_ENABLE_EDS_DEBOUNCE ?? 'unset'}: ` +
        'endpoint (EDS) pushes are not debounced, only config pushes are; add PILOT_ENABLE_EDS_DEBOUNCE=true to ' +
        'BENCH_ISTIOD_ENV to debounce endpoint changes',
    );
  }
  return warnings;
}
