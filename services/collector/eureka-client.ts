import fs from 'node:fs';
import type { EurekaSourceConfig } from '../shared/config.ts';

/** A Eureka peer: its service URL without credentials, and the Authorization header for it (if any). */
export interface EurekaPeer { url: string; authorization: string | undefined }

/** Error from a Eureka peer, with the HTTP status when it answered. */
export class EurekaRequestError extends Error {
  constructor(message: string, readonly peer: string, readonly status?: number) {
    super(message);
  }
}

/**
 * Peers from the config. Credentials in a URL (http://user:pass@host/eureka, as Spring Cloud's defaultZone allows)
 * move to a header: fetch refuses URLs that carry them. The configured username/password apply to the others.
 */
export function eurekaPeers(src: Pick<EurekaSourceConfig, 'serviceUrls' | 'username' | 'password' | 'passwordFile'>): EurekaPeer[] {
  const password = src.password ?? (src.passwordFile ? fs.readFileSync(src.passwordFile, 'utf8').replace(/\r?\n$/, '') : undefined);
  return src.serviceUrls.map((raw) => {
    const u = new URL(raw);
    const user = u.username ? decodeURIComponent(u.username) : src.username;
    const pass = u.username ? decodeURIComponent(u.password) : password;
    u.username = '';
    u.password = '';
    const url = u.toString().replace(/\/+$/, '');
    const authorization = user !== undefined ? `Basic ${Buffer.from(`${user}:${pass ?? ''}`).toString('base64')}` : undefined;
    return { url, authorization };
  });
}

/**
 * Reads a Eureka cluster's REST API in JSON, sticking to one peer while it answers and moving to the next on any
 * failure (connection refused, timeout, 5xx). `peerChanged` tells the caller its copy came from another peer.
 */
export class EurekaClient {
  private readonly peers: EurekaPeer[];
  private current = 0;
  private readonly controllers = new Set<AbortController>();

  constructor(src: EurekaSourceConfig, private readonly onPeerChange: (from: string, to: string, err: string) => void) {
    this.peers = eurekaPeers(src);
    this.timeoutMs = src.requestTimeoutMs;
  }

  private readonly timeoutMs: number;

  get peer(): string { return this.peers[this.current]!.url; }

  /** GET <peer><path> as JSON from the current peer, failing over through every other peer once. */
  async get(path: string): Promise<unknown> {
    let last: unknown;
    for (let tried = 0; tried < this.peers.length; tried++) {
      const peer = this.peers[this.current]!;
      try {
        return await this.getFrom(peer, path);
      } catch (e) {
        last = e;
        // 4xx (auth, not found) would be the same on every peer of one cluster: no failover for those.
        if (e instanceof EurekaRequestError && e.status !== undefined && e.status < 500) throw e;
        if (this.peers.length === 1) break;
        const from = peer.url;
        this.current = (this.current + 1) % this.peers.length;
        this.onPeerChange(from, this.peer, (e as Error).message);
      }
    }
    throw last;
  }

  private async getFrom(peer: EurekaPeer, path: string): Promise<unknown> {
    const ac = new AbortController();
    this.controllers.add(ac);
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (peer.authorization) headers.authorization = peer.authorization;
      let res: Response;
      try {
        res = await fetch(`${peer.url}${path}`, { headers, signal: ac.signal });
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        throw new EurekaRequestError(`GET ${peer.url}${path}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, peer.url);
      }
      const text = await res.text();
      if (!res.ok) throw new EurekaRequestError(`GET ${peer.url}${path}: HTTP ${res.status} ${text.slice(0, 200)}`, peer.url, res.status);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new EurekaRequestError(`GET ${peer.url}${path}: not JSON: ${text.slice(0, 120)}`, peer.url);
      }
    } finally {
      clearTimeout(timer);
      this.controllers.delete(ac);
    }
  }

  close(): void {
    for (const ac of this.controllers) ac.abort(new Error('collector stopping'));
  }
}
