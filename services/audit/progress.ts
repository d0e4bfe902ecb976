/**
 * Progress of a long replay on a terminal: events done, events/s and ETA, redrawn in place at most 5 times a second.
 * Silent when stderr is not a terminal (cron jobs, CI, pipes), so logs stay clean.
 */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly start = performance.now();
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = Boolean(stream.isTTY) && total > 0;
  }

  add(n: number): void {
    this.done += n;
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.stream.write(`\r${progressLine(this.label, this.done, this.total, (now - this.start) / 1000)}\x1b[K`);
  }

  end(): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
  }
}

/** "replay  412,000/1,000,000 events  41%  98,200 ev/s  ETA 6s" — pure, for tests. */
export function progressLine(label: string, done: number, total: number, seconds: number): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? Math.max(0, (total - done) / rate) : Infinity;
  const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
  const etaText = Number.isFinite(eta)
    ? eta >= 60
      ? `${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, '0')}s`
      : `${Math.round(eta)}s`
    : '?';
  return `${label}  ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} events  ${pct}%  ${Math.round(rate).toLocaleString('en-US')} ev/s  ETA ${etaText}`;
}
