/** Small text helpers: colour, aligned tables, sizes and relative times. */
import type { JobState } from '@bsubio/protocol';

export interface Paint {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;
const identity = (text: string) => text;

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function paint(enabled: boolean): Paint {
  if (!enabled) return { red: identity, green: identity, yellow: identity, dim: identity, bold: identity };
  return { red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), dim: sgr(2, 22), bold: sgr(1, 22) };
}

export function paintStatus(status: JobState, p: Paint): string {
  if (status === 'finished') return p.green(status);
  if (status === 'failed') return p.red(status);
  if (status === 'created' || status === 'loaded') return p.dim(status);
  return p.yellow(status);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escapes paint() writes
const ANSI = /\x1b\[[0-9;]*m/g;
export const visibleLength = (text: string) => text.replace(ANSI, '').length;

/**
 * A file name cut in the middle to `width`: its end tells files apart
 * (scan-001.pdf, scan-002.pdf) and shows the extension, where a cut end
 * would not.
 */
export function cutMiddle(name: string, width: number): string {
  if (name.length <= width) return name;
  const tail = Math.floor((width - 1) / 2);
  return `${name.slice(0, width - 1 - tail)}…${name.slice(name.length - tail)}`;
}

/**
 * The units a line is broken between: words, except that a command given
 * for the user to run ('bsubio logs <id>', or in parentheses) stays whole,
 * to be copied at once.
 */
const WRAP_UNITS = /'bsubio [^']*'\S*|\(bsubio [^)]*\)\S*|[^ ]+/g;

/**
 * `text` in lines of at most `width` characters (the first line:
 * `firstWidth`), broken between words (a longer word on its own).
 */
export function wrapWords(text: string, width: number, firstWidth = width): string[] {
  if (visibleLength(text) <= firstWidth) return [text];
  const lines: string[] = [];
  const room = () => (lines.length === 0 ? firstWidth : width);
  let line = '';
  for (const word of text.match(WRAP_UNITS) ?? []) {
    if (line && line.length + 1 + word.length > room()) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
    while (line.length > room()) {
      const cut = room();
      lines.push(line.slice(0, cut));
      line = line.slice(cut);
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * A message for people on `stream`: on a terminal, broken between words to
 * its width, each further line indented by `indent` spaces, so that a job id
 * or a command to copy is never cut in two where the terminal would wrap it;
 * elsewhere (a pipe, a log) one line, as scripts expect.
 */
export function wrapForTerminal(text: string, stream: NodeJS.WriteStream, indent: number): string {
  if (!stream.isTTY) return text;
  const columns = stream.columns || 80;
  // The last column left free: some terminals wrap on writing into it.
  const width = Math.max(20, columns - 1 - indent);
  // The first line has the whole width; the rest go on below the indent.
  return wrapWords(text, width, width + indent)
    .map((line, i) => (i === 0 ? line : ' '.repeat(indent) + line))
    .join('\n');
}

/** Rows of cells, each column padded to its widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleLength(cell))))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** 1536 → "1.5 KiB", as the original CLI's formatBytes but with binary unit names. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** "just now", "42s ago", "5m ago", "3h ago", "2d ago"; a date past a month. */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const seconds = Math.round((now - at) / 1000);
  if (seconds < 0) return 'in the future';
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  if (seconds < 30 * 86_400) return `${Math.floor(seconds / 86_400)}d ago`;
  return localTime(iso).slice(0, 10);
}

/** "2026-01-15 10:30:00" in local time, as the original CLI printed times. */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** "0.42s", "3.1s", "2m05s": for durations shown to people. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Pretty JSON with a final newline: what `--json` prints. */
export const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
