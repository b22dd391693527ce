/**
 * Progress for long operator commands: a bar redrawn in place on a terminal, plain lines (one per 10%)
 * when the output is a file or a CI log, where carriage returns would make a mess.
 */
import type { Writable } from 'node:stream';

export class Progress {
  private lastDraw = 0;
  private lastStep = -1;
  private started = Date.now();
  private label = '';
  private drawn = false;

  constructor(
    private readonly out: Writable,
    private readonly tty: boolean,
  ) {}

  update(label: string, done: number, total: number): void {
    if (label !== this.label) {
      this.end();
      this.label = label;
      this.started = Date.now();
      this.lastStep = -1;
    }
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? Math.round(done / elapsed) : 0;
    if (this.tty) {
      const now = Date.now();
      if (done < total && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const eta = rate > 0 && done < total ? ` eta ${Math.ceil((total - done) / rate)}s` : '';
      this.out.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${done}/${total} ${rate}/s${eta}\x1b[K`,
      );
      this.drawn = true;
    } else {
      const step = Math.floor(pct / 10);
      if (step === this.lastStep) return;
      this.lastStep = step;
      this.out.write(`${label}: ${done}/${total} (${pct}%, ${rate}/s)\n`);
    }
  }

  /** Ends the bar's line so that what follows starts on a fresh one. */
  end(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
