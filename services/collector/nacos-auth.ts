import { monotonicMs } from '../../services/shared/monotonic.ts';

/**
 * Nacos access tokens (auth enabled): a fixed token from the config, or one obtained by logging in with username and
 * password over the HTTP API (POST <contextPath>/v3/auth/user/login; Nacos 2.x servers only have the v1 path, tried
 * when v3 answers 404) and renewed before its TTL runs out. Nacos's gRPC requests carry it as the `accessToken` header.
 */
export interface NacosAuthConfig {
  address: string;
  contextPath: string;
  username?: string;
  password?: string;
  accessToken?: string;
}

export class NacosAuth {
  private token: string | undefined;
  private expiresAt = 0;

  constructor(private readonly cfg: NacosAuthConfig) {
    this.token = cfg.accessToken;
  }

  get enabled(): boolean {
    return this.cfg.username !== undefined || this.cfg.accessToken !== undefined;
  }

  /** The token to send now (undefined without auth). */
  current(): string | undefined {
    return this.token;
  }

  /**
   * Logs in when there is no token yet or it is within 20% of its TTL, timed on the monotonic clock (a step of the
   * wall clock neither keeps an expired token nor drops a good one); a fixed token is used as is.
   */
  async refresh(force = false): Promise<void> {
    const { username, password } = this.cfg;
    if (username === undefined || password === undefined) return;
    if (!force && this.token && monotonicMs() < this.expiresAt) return;
    const body = new URLSearchParams({ username, password });
    let res: Response | undefined;
    for (const path of ['/v3/auth/user/login', '/v1/auth/login']) {
      res = await fetch(`${this.cfg.address}${this.cfg.contextPath}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status !== 404) break;
    }
    const text = await res!.text();
    if (!res!.ok)
      throw new Error(`Nacos login as ${username} at ${this.cfg.address}: HTTP ${res!.status} ${text.slice(0, 200)}`);
    const json = JSON.parse(text) as { accessToken?: string; tokenTtl?: number };
    if (!json.accessToken) throw new Error(`Nacos login as ${username}: no accessToken in the answer`);
    this.token = json.accessToken;
    this.expiresAt = monotonicMs() + Math.max(10, (json.tokenTtl ?? 18_000) * 0.8) * 1000;
  }
}

/** Nacos's answer to a request with a missing, wrong or expired token (error 403 or an auth message). */
export function isAuthError(e: unknown): boolean {
  const err = e as { errorCode?: number; message?: string };
  return (
    err?.errorCode === 403 ||
    err?.errorCode === 401 ||
    /token (expired|invalid)|user not found|unknown user|authoriz/i.test(err?.message ?? '')
  );
}
