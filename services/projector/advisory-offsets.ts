/**
 * The offsets the projector reports to Kafka's consumer group. They are advisory — Redis holds the position a new
 * owner resumes from — so they are sent at most once per interval, all partitions in one OffsetCommit, instead of one
 * request per fetched batch: under churn that was about one commit per event, each a write to `__consumer_offsets`.
 * Pure: the caller owns the clock, the timer and the request.
 */
export class AdvisoryOffsets {
  private readonly pending = new Map<number, string>();
  private lastSentAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly intervalMs: number) {}

  /** Records a partition's committed position. Returns how long to wait before sending (0: send now). */
  record(partition: number, offset: string, now: number): number {
    this.pending.set(partition, offset);
    return Math.max(0, this.lastSentAt + this.intervalMs - now);
  }

  /** A partition this replica no longer owns: its position is now another owner's to report. */
  forget(partition: number): void {
    this.pending.delete(partition);
  }

  /** Everything recorded since the last send, to send now (empty when nothing is). */
  take(now: number): { partition: number; offset: string }[] {
    if (this.pending.size === 0) return [];
    this.lastSentAt = now;
    const out = [...this.pending].map(([partition, offset]) => ({ partition, offset }));
    this.pending.clear();
    return out;
  }
}
