/**
 * Progress of submits, on stderr. On a terminal: a live table, one row per
 * file, with the full job id, an upload bar and then the job's state as it
 * changes, redrawn in place. Not on
 * a terminal: the bsub.io CLI's plain lines ("Submitting job for a.pdf...",
 * "Job submitted: <id>"), printed once per change, so logs stay readable; a
 * failure is reported by the command's error line, not here.
 */
import type { Paint } from './format.js';
import { cutMiddle, formatBytes, formatDuration } from './format.js';

export interface Row {
  label: string;
  /** `queued`, `uploading`, `submitted`, then the job's states; `error` for a local failure. */
  status: string;
  id?: string;
  sent?: number;
  total?: number | null;
  detail?: string;
  /** A pipeline's step while it runs: `step 2/3 pdf/thumbnail`. */
  step?: string;
  startedAt?: number;
  endedAt?: number;
}

export interface Progress {
  update(index: number, patch: Partial<Row>): void;
  /** Final redraw; the table stays on screen, and nothing is drawn after. */
  stop(): void;
  /** Whether rows are redrawn in place (then nothing else may write to the terminal until stop). */
  readonly live: boolean;
}

export function createProgress(
  stream: NodeJS.WriteStream,
  paint: Paint,
  labels: string[],
  live: boolean,
): Progress {
  const rows: Row[] = labels.map((label) => ({ label, status: 'queued' }));
  // A table taller than the screen cannot be redrawn in place: plain lines then.
  const fits = rows.length < (stream.rows || 24) - 1;
  return live && fits ? new LiveTable(stream, paint, rows) : new PlainLines(stream, rows);
}

class PlainLines implements Progress {
  readonly live = false;
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly rows: Row[],
  ) {}

  update(index: number, patch: Partial<Row>): void {
    const row = this.rows[index]!;
    const before = row.status;
    const stepBefore = row.step;
    Object.assign(row, patch);
    const say = (line: string) => this.stream.write(`${line}\n`);
    if (row.step && row.step !== stepBefore) say(`Job ${row.id}: ${row.step}`);
    if (row.status === before) return;
    switch (row.status) {
      case 'uploading':
        say(`Submitting job for ${row.label}...`);
        break;
      case 'submitted':
        say(`Job submitted: ${row.id}`);
        break;
      case 'finished':
        say(`Job ${row.id} completed successfully`);
        break;
    }
  }

  stop(): void {}
}

const FRAME_MS = 100;
const ID = 36;
const ELAPSED = 7;
const GAP = '  ';

/**
 * One row per file, redrawn in place: cursor up over the rows drawn last
 * time, then each row again. That only works if nothing else writes to the
 * terminal meanwhile and no row is wider than the terminal (a wrapped row
 * takes two lines and the next redraw leaves one behind), so every row is
 * cut to the width, and the command holds back stdout until `stop()`.
 */
class LiveTable implements Progress {
  readonly live = true;
  private drawn = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly paint: Paint,
    private readonly rows: Row[],
  ) {
    this.draw();
    // The elapsed times keep moving while nothing else changes, so a job
    // that is processing is visibly alive.
    this.ticker = setInterval(() => this.draw(), 500);
    this.ticker.unref();
  }

  private readonly ticker: ReturnType<typeof setInterval>;

  update(index: number, patch: Partial<Row>): void {
    const row = this.rows[index]!;
    if (patch.status && patch.status !== row.status) {
      if (patch.status === 'uploading') row.startedAt ??= Date.now();
      if (TERMINAL_ROW.has(patch.status)) row.endedAt = Date.now();
    }
    Object.assign(row, patch);
    if (this.stopped) return;
    // Redraw at most every FRAME_MS: upload progress fires per chunk.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.draw();
    }, FRAME_MS);
  }

  stop(): void {
    if (this.stopped) return;
    clearInterval(this.ticker);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draw();
    this.stopped = true;
  }

  private draw(): void {
    // One column short of the width: a line that fills the last column makes
    // some terminals wrap early.
    const width = Math.max(40, (this.stream.columns || 80) - 1);
    let out = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    const layout = this.layout(width);
    for (const row of this.rows) out += `\r\x1b[2K${this.line(row, layout)}\n`;
    this.drawn = this.rows.length;
    this.stream.write(out);
  }

  /** Column widths: the full id always (it is what people copy), the label and state share the rest. */
  private layout(width: number): { label: number; id: number; state: number } {
    const id = width >= 72 ? ID : 13;
    const rest = width - id - ELAPSED - GAP.length * 3;
    const longest = Math.max(...this.rows.map((r) => r.label.length));
    const label = Math.min(longest, Math.max(8, Math.floor(rest * 0.4)));
    // The state needs ~40 columns at most (an upload bar with its size); the rest stays blank.
    return { label, id, state: Math.min(rest - label, 44) };
  }

  private line(row: Row, layout: { label: number; id: number; state: number }): string {
    const p = this.paint;
    const label = cutMiddle(row.label, layout.label).padEnd(layout.label);
    const id = (row.id ? fit(row.id, layout.id) : '').padEnd(layout.id);
    const elapsed = row.startedAt ? formatDuration((row.endedAt ?? Date.now()) - row.startedAt) : '';
    let plain: string;
    let painted: (text: string) => string = p.yellow;
    if (row.status === 'uploading') {
      plain = uploadBar(row, layout.state);
      painted = (text) => text;
    } else {
      const detail = row.detail ?? row.step;
      let text = detail ? `${row.status}: ${detail}` : row.status;
      // Narrow: a pipeline's step alone says that it is running.
      if (!row.detail && row.step && text.length > layout.state) text = row.step;
      plain = fit(text, layout.state);
      if (row.status === 'finished') painted = p.green;
      else if (row.status === 'failed' || row.status === 'error' || row.status === 'cancelled')
        painted = p.red;
      else if (row.status === 'queued') painted = p.dim;
    }
    const state = painted(plain) + ' '.repeat(layout.state - plain.length);
    return `${label}${GAP}${p.dim(id)}${GAP}${state}${GAP}${elapsed}`.trimEnd();
  }
}

const TERMINAL_ROW = new Set(['finished', 'failed', 'error', 'cancelled']);

/** `████░░░░  42% of 300.0 MiB`, as much of it as fits in `width`. */
function uploadBar(row: Row, width: number): string {
  const fraction = row.total ? Math.min(1, (row.sent ?? 0) / row.total) : 0;
  const percent = row.total ? `${String(Math.floor(fraction * 100)).padStart(3)}%` : '';
  const amount = row.total ? ` of ${formatBytes(row.total)}` : formatBytes(row.sent ?? 0);
  const tail = width - 1 - percent.length - amount.length >= 8 ? `${percent}${amount}` : percent;
  const bar = Math.max(0, Math.min(24, width - 1 - tail.length));
  const filled = Math.round(fraction * bar);
  return fit(`${'█'.repeat(filled)}${'░'.repeat(bar - filled)} ${tail}`, width);
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(1, width - 1))}…`;
}
