import type { Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '../../services/shared/module-worker.ts';
import type { AppsDocument } from './eureka-apps.ts';
import type { FetchReply, FetchRequest } from './eureka-fetch-worker.ts';
import type { EurekaSourceConfig } from '../../services/shared/config.ts';
import { eurekaPeers, type EurekaPeer } from '../../services/shared/eureka-peers.ts';

/** Error from a Eureka peer, with the HTTP status when it answered. */
export class EurekaRequestError extends Error {
  constructor(
    message: string,
    readonly peer: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * Reads a Eureka cluster's REST API in JSON, sticking to one peer while it answers and moving to the next on any
 * failure (connection refused, timeout, any HTTP error, a body that is not an applications document). Requests run in
 * a worker thread (eureka-fetch-worker.ts) that returns parsed documents: big registries are big JSON.
 */
export class EurekaClient {
  private readonly peers: EurekaPeer[];
  private current = 0;
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: FetchReply) => void }>();
  private readonly timeoutMs: number;

  constructor(
    src: EurekaSourceConfig,
    private readonly onPeerChange: (from: string, to: string, err: string) => void,
  ) {
    this.peers = eurekaPeers(src);
    this.timeoutMs = src.requestTimeoutMs;
  }

  get peer(): string {
    return this.peers[this.current]!.url;
  }

  /** GET <peer><path> as a parsed applications document, failing over through every other peer once. */
  async get(path: string): Promise<AppsDocument> {
    let last: unknown;
    for (let tried = 0; tried < this.peers.length; tried++) {
      const peer = this.peers[this.current]!;
      try {
        return await this.getFrom(peer, path);
      } catch (e) {
        last = e;
        // Every failure moves on, 4xx included: a Eureka server that started without peer data answers 403 to
        // registry reads for its first 5 minutes (waitTimeInMsWhenSyncEmpty), and credentials may differ per peer.
        if (this.peers.length === 1) break;
        const from = peer.url;
        this.current = (this.current + 1) % this.peers.length;
        this.onPeerChange(from, this.peer, (e as Error).message);
      }
    }
    throw last;
  }

  private async getFrom(peer: EurekaPeer, path: string): Promise<AppsDocument> {
    const id = this.nextId++;
    const reply = await new Promise<FetchReply>((resolve) => {
      this.waiting.set(id, { resolve });
      const req: FetchRequest = {
        id,
        url: `${peer.url}${path}`,
        authorization: peer.authorization,
        timeoutMs: this.timeoutMs,
      };
      this.ensureWorker().postMessage(req);
    });
    if (!reply.ok) throw new EurekaRequestError(reply.message, peer.url, reply.status);
    return reply.doc;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = startModuleWorker(siblingModule(import.meta.url, 'eureka-fetch-worker'));
    w.unref();
    w.on('message', (r: FetchReply) => {
      const waiter = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      waiter?.resolve(r);
    });
    const fail = (message: string) => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, waiter] of this.waiting) waiter.resolve({ id, ok: false, message });
      this.waiting.clear();
    };
    w.on('error', (e) => fail(`Eureka reader thread failed: ${e.message}`));
    w.on('exit', (code) => fail(`Eureka reader thread exited (${code})`));
    this.worker = w;
    return w;
  }

  close(): void {
    const w = this.worker;
    this.worker = undefined;
    for (const [id, waiter] of this.waiting) waiter.resolve({ id, ok: false, message: 'collector stopping' });
    this.waiting.clear();
    void w?.terminate();
  }
}
