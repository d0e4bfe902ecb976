import { parentPort } from 'node:worker_threads';
import { parseAppsDocument } from './eureka-apps.ts';

/** A GET the collector's thread asks for. */
export interface FetchRequest {
  id: number;
  url: string;
  authorization: string | undefined;
  timeoutMs: number;
}
export type FetchReply =
  | { id: number; ok: true; doc: ReturnType<typeof parseAppsDocument> }
  | { id: number; ok: false; message: string; status?: number };

/**
 * Reads and parses Eureka responses off the collector's main thread. A full `/apps` of 50,000 instances is about
 * 60 MB of JSON: parsing it on the main thread stalls the event loop for seconds, long enough to lose the source's
 * lease. Here it is fetched, parsed and reduced to the fields meshbridge reads; only that crosses back.
 */
parentPort?.on('message', (req: FetchRequest) => {
  void get(req).then((reply) => parentPort!.postMessage(reply));
});

/** What an operator can do about the answers a Eureka server gives most often. */
const HINTS: Record<number, string> = {
  401: "(the server wants credentials: set the source's username and password, or user:pass@ in serviceUrls)",
  403:
    '(a Eureka server that started without peer data refuses registry reads for wait-time-in-ms-when-sync-empty,' +
    ' 5 min by default; or this user may not read the registry)',
};

async function get(req: FetchRequest): Promise<FetchReply> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no answer within ${req.timeoutMs} ms`)), req.timeoutMs);
  try {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (req.authorization) headers.authorization = req.authorization;
    let res: Response;
    try {
      res = await fetch(req.url, { headers, signal: ac.signal });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      return {
        id: req.id,
        ok: false,
        message: `GET ${req.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
      };
    }
    const text = await res.text();
    if (!res.ok)
      return {
        id: req.id,
        ok: false,
        status: res.status,
        message: [`GET ${req.url}: HTTP ${res.status}`, text.slice(0, 200), HINTS[res.status]]
          .filter(Boolean)
          .join(' '),
      };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { id: req.id, ok: false, message: `GET ${req.url}: not JSON: ${text.slice(0, 120)}` };
    }
    try {
      return { id: req.id, ok: true, doc: parseAppsDocument(body) };
    } catch (e) {
      return { id: req.id, ok: false, message: `GET ${req.url}: ${(e as Error).message}` };
    }
  } catch (e) {
    return { id: req.id, ok: false, message: `GET ${req.url}: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}
