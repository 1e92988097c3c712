// One-line progress on a terminal (stderr); silent when stderr is piped or --quiet is given.

export class Progress {
  private last = 0;
  private shown = false;
  constructor(readonly enabled: boolean, private readonly out: NodeJS.WriteStream = process.stderr) {}

  static forStderr(quiet: boolean): Progress {
    return new Progress(!quiet && process.stderr.isTTY === true);
  }

  /** Redraws the line (at most ~20 times a second unless forced). */
  update(text: string, force = false): void {
    if (!this.enabled) return;
    const t = Date.now();
    if (!force && t - this.last < 50) return;
    this.last = t;
    const cols = this.out.columns || 100;
    this.out.write(`\r${text.slice(0, cols - 1)}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (this.enabled && this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}
