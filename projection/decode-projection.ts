import { createEventDecoder, EventDecodeError } from '../schemas/event-codec.ts';
import { UNUSED_BY_FOLD, type FoldEvent } from './fold-state.ts';

/**
 * decodeEvent (schemas/event-codec.ts) restricted to what the fold reads. The audit fields — the raw registry
 * payload (kilobytes per event), data issues, publisher identity — are left out of the reader schema, so avsc skips
 * their bytes instead of allocating strings the projector would throw away. test/unit/projector-decode.test.ts
 * checks it against decodeEvent.
 */
export const decodeForFold = createEventDecoder<FoldEvent>(UNUSED_BY_FOLD);

/**
 * Decodes messages as they are iterated, for foldBatch: an event superseded a few events later is garbage while still
 * young. A message that cannot be decoded (or has no value) goes to `onUndecodable` with the reason and is skipped,
 * as the projector dead-letters it; `onDecoded` sees each message whose event is yielded, in order.
 */
export function* decodeLazily<M extends { value: Buffer | null }>(
  messages: Iterable<M>,
  onUndecodable: (message: M, reason: string) => void,
  onDecoded: (message: M) => void = () => {},
): Generator<FoldEvent> {
  for (const m of messages) {
    let e: FoldEvent;
    try {
      if (!m.value) throw new EventDecodeError('empty message value (tombstone?)');
      e = decodeForFold(m.value);
    } catch (err) {
      onUndecodable(m, (err as Error).message);
      continue;
    }
    onDecoded(m);
    yield e;
  }
}
