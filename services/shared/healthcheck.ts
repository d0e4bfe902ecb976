import { parseArgs } from 'node:util';
import { loadConfig } from './config.ts';

/**
 * `meshbridge healthcheck [--url URL]`: the container HEALTHCHECK. Without --url it asks every role's `/readyz` on
 * loopback at the ports the configuration names (one container runs one role, so one of them answers) and exits 0
 * when one is ready, 1 otherwise. No curl in the image: the runtime it already has does the request.
 */
export async function healthcheck(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, config: { type: 'string' } },
    allowPositionals: true,
    strict: false,
  });
  let urls: string[];
  if (typeof values.url === 'string') {
    urls = [values.url];
  } else {
    const c = loadConfig(typeof values.config === 'string' ? values.config : undefined);
    urls = [c.collector.httpPort, c.projector.httpPort, c.gateway.httpPort].map((p) => `http://127.0.0.1:${p}/readyz`);
  }
  for (const url of urls) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return 0;
      process.stderr.write(`${url}: HTTP ${res.status} ${await res.text()}\n`);
    } catch {
      /* not this role's port */
    }
  }
  process.stderr.write(`not ready: ${urls.join(' ')}\n`);
  return 1;
}
