/**
 * Progress of submits, on stderr. On a terminal: a live table, one row per
 * file, with an upload bar and then the job's state, redrawn in place. Not on
 * a terminal: the bsub.io CLI's plain lines ("Submitting job for a.pdf...",
 * "Job submitted: <id>"), printed once per change, so logs stay readable; a
 * failure is reported by the command's error line, not here.
 */
import type { Paint } from './format.js';
import { formatBytes, formatDuration } from './format.js';

export interface Row {
  label: string;
  /** `queued`, `uploading`, `submitted`, then the job's states; `error` for a local failure. */
  status: string;
  id?: string;
  sent?: number;
  total?: number | null;
  detail?: string;
  startedAt?: number;
  endedAt?: number;
}

export interface Progress {
  update(index: number, patch: Partial<Row>): void;
  /** Final redraw; the table stays on screen. */
  stop(): void;
}

export function createProgress(
  stream: NodeJS.WriteStream,
  paint: Paint,
  labels: string[],
  live: boolean,
): Progress {
  const rows: Row[] = labels.map((label) => ({ label, status: 'queued' }));
  return live ? new LiveTable(stream, paint, rows) : new PlainLines(stream, rows);
}

class PlainLines implements Progress {
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly rows: Row[],
  ) {}

  update(index: number, patch: Partial<Row>): void {
    const row = this.rows[index]!;
    const before = row.status;
    Object.assign(row, patch);
    if (row.status === before) return;
    const say = (line: string) => this.stream.write(`${line}\n`);
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

const BAR = 24;
const FRAME_MS = 100;

class LiveTable implements Progress {
  private drawn = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly paint: Paint,
    private readonly rows: Row[],
  ) {
    this.draw();
  }

  update(index: number, patch: Partial<Row>): void {
    const row = this.rows[index]!;
    if (patch.status && patch.status !== row.status) {
      if (patch.status === 'uploading') row.startedAt ??= Date.now();
      if (patch.status === 'finished' || patch.status === 'failed' || patch.status === 'error') {
        row.endedAt = Date.now();
      }
    }
    Object.assign(row, patch);
    // Redraw at most every FRAME_MS: upload progress fires per chunk.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.draw();
    }, FRAME_MS);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draw();
    this.stopped = true;
  }

  private draw(): void {
    const width = Math.max(40, (this.stream.columns || 80) - 1);
    const labelWidth = Math.min(
      Math.max(...this.rows.map((r) => r.label.length)),
      Math.max(10, width - BAR - 40),
    );
    let out = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const row of this.rows) out += `\x1b[2K${this.line(row, labelWidth, width)}\n`;
    this.drawn = this.rows.length;
    this.stream.write(out);
  }

  private line(row: Row, labelWidth: number, width: number): string {
    const p = this.paint;
    const label = fit(row.label, labelWidth).padEnd(labelWidth);
    const id = row.id ? p.dim(row.id.slice(0, 13)) : ' '.repeat(13);
    const elapsed = row.startedAt ? formatDuration((row.endedAt ?? Date.now()) - row.startedAt) : '';
    let state: string;
    let plain: string;
    if (row.status === 'uploading') {
      const fraction = row.total ? Math.min(1, (row.sent ?? 0) / row.total) : 0;
      const filled = Math.round(fraction * BAR);
      const amount = row.total
        ? `${String(Math.floor(fraction * 100)).padStart(3)}% of ${formatBytes(row.total)}`
        : formatBytes(row.sent ?? 0);
      plain = `${'█'.repeat(filled)}${'░'.repeat(BAR - filled)} ${amount}`;
      state = plain;
    } else {
      plain = row.detail ? `${row.status}: ${row.detail}` : row.status;
      const painted =
        row.status === 'finished'
          ? p.green
          : row.status === 'failed' || row.status === 'error'
            ? p.red
            : row.status === 'queued'
              ? p.dim
              : p.yellow;
      const room = Math.max(10, width - labelWidth - 13 - 10 - 6);
      plain = fit(plain, room);
      state = painted(plain);
    }
    const pad = ' '.repeat(Math.max(1, BAR + 16 - plain.length));
    return `${label}  ${id}  ${state}${pad}${elapsed}`;
  }
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(1, width - 1))}…`;
}
