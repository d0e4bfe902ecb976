import { parentPort, workerData } from 'node:worker_threads';
import type { Cut } from './cut-replay.ts';
import { MultiCutReplay } from './multi-cut-replay.ts';
import { packBuffers, unpackMessages, type PackedMessages } from './replay-wire.ts';

/**
 * A replay worker thread: decodes and folds its share of the partitions (services/audit/replay-topic.ts sends each
 * partition's messages, in offset order, always to the same worker).
 */
export type ToWorker =
  | { type: 'feed'; partition: number; batch: PackedMessages }
  | { type: 'finish'; ends: Map<number, bigint> };

const { cuts, partitions } = workerData as { cuts: Cut[]; partitions: number[] };
const replay = new MultiCutReplay(cuts, partitions);
const port = parentPort!;

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'feed') {
    const verdict = replay.feed(msg.partition, unpackMessages(msg.batch));
    port.postMessage({ type: 'fed', partition: msg.partition, count: msg.batch.lengths.length, verdict });
    return;
  }
  const { results, stats } = replay.finish(msg.ends);
  const transfer: ArrayBuffer[] = [];
  const packed = results.map((r) => {
    const { packed: resources, transfer: t } = packBuffers(r.resources);
    transfer.push(...t);
    return { ...r, resources };
  });
  port.postMessage({ type: 'finished', results: packed, stats }, transfer);
});
