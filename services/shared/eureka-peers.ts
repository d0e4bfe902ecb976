import fs from 'node:fs';
import type { EurekaSourceConfig } from './config.ts';

/** A Eureka peer: its service URL without credentials, and the Authorization header for it (if any). */
export interface EurekaPeer {
  url: string;
  authorization: string | undefined;
}

/**
 * Peers from the config. Credentials in a URL (http://user:pass@host/eureka, as Spring Cloud's defaultZone allows)
 * move to a header: fetch refuses URLs that carry them. The configured username/password apply to the others.
 */
export function eurekaPeers(
  src: Pick<EurekaSourceConfig, 'serviceUrls' | 'username' | 'password' | 'passwordFile'>,
): EurekaPeer[] {
  const password =
    src.password ?? (src.passwordFile ? fs.readFileSync(src.passwordFile, 'utf8').replace(/\r?\n$/, '') : undefined);
  return src.serviceUrls.map((raw) => {
    const u = new URL(raw);
    const user = u.username ? decodeURIComponent(u.username) : src.username;
    const pass = u.username ? decodeURIComponent(u.password) : password;
    u.username = '';
    u.password = '';
    const url = u.toString().replace(/\/+$/, '');
    const authorization =
      user !== undefined ? `Basic ${Buffer.from(`${user}:${pass ?? ''}`).toString('base64')}` : undefined;
    return { url, authorization };
  });
}
