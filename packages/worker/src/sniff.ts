/**
 * What an input really is, from its bytes (magic numbers), never from its
 * name: a job is checked against its type's `mime_in` before the tool runs,
 * so a JPEG named report.pdf is refused with a sentence saying so instead of
 * failing deep inside pdftotext.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FILE_KINDS, zipContentType } from '@bsubio/protocol/file-kinds';

export interface Sniffed {
  mime: string;
  /** Conventional extension, with the dot; '' when there is none. */
  ext: string;
  /** For people: "a PNG image". */
  label: string;
  /** Set when the format is right but the file is visibly broken. */
  damage?: string;
}

const HEAD_BYTES = 64 * 1024;
const TAIL_BYTES = 64 * 1024;

/** The conventional extension of a MIME type, '' when unknown. */
export function extensionFor(mime: string): string {
  return FILE_KINDS[mime]?.ext ?? '';
}

function result(mime: string, damage?: string): Sniffed {
  const known = FILE_KINDS[mime] ?? { ext: '', label: mime };
  const sniffed: Sniffed = { mime, ext: known.ext, label: known.label };
  if (damage) sniffed.damage = damage;
  return sniffed;
}

const ascii = (buf: Buffer, start: number, end: number) => buf.toString('latin1', start, end);

/** Office Open XML, OpenDocument or EPUB, which are ZIP files inside, or a plain ZIP. */
function sniffContainer(head: Buffer, tail: Buffer): string {
  return zipContentType(ascii(head, 0, head.length), ascii(tail, 0, tail.length));
}

function sniffIsoMedia(head: Buffer): string {
  const brand = ascii(head, 8, 12);
  if (brand === 'M4A ' || brand === 'M4B ') return 'audio/mp4';
  if (brand === 'qt  ') return 'video/quicktime';
  if (brand === 'avif' || brand === 'avis') return 'image/avif';
  if (/^(heic|heix|mif1|msf1)$/.test(brand)) return 'image/heic';
  if (brand.startsWith('3g')) return 'video/3gpp';
  return 'video/mp4';
}

/**
 * Old Office files are all OLE compound files; the name of the main stream,
 * in UTF-16 in the directory, tells Word from Excel from PowerPoint.
 */
function sniffOle(head: Buffer, tail: Buffer): string {
  const has = (name: string) => {
    const utf16 = Buffer.from(name, 'utf16le');
    return head.includes(utf16) || tail.includes(utf16);
  };
  if (has('WordDocument')) return 'application/msword';
  if (has('Workbook') || has('Book')) return 'application/vnd.ms-excel';
  if (has('PowerPoint Document')) return 'application/vnd.ms-powerpoint';
  return 'application/x-ole-storage';
}

function isUtf8Text(head: Buffer, complete: boolean): boolean {
  if (head.includes(0)) return false;
  // A multi-byte character may be cut at the end of the sample: drop up to 3 bytes.
  for (let cut = 0; cut <= (complete ? 0 : 3); cut++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - cut));
      return true;
    } catch {
      // try a shorter sample
    }
  }
  return false;
}

function sniffText(head: Buffer): string {
  let text = head.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const start = text.trimStart();
  const lower = start.slice(0, 4096).toLowerCase();
  if (/^(<!--[\s\S]*?-->\s*)*<(!doctype html|html[\s>]|head[\s>]|body[\s>])/.test(lower)) return 'text/html';
  if (lower.startsWith('<?xml') && lower.includes('<svg')) return 'image/svg+xml';
  if (lower.startsWith('<svg')) return 'image/svg+xml';
  if (lower.startsWith('<?xml') && /<html[\s>]/.test(lower)) return 'text/html';
  if (lower.startsWith('{\\rtf')) return 'application/rtf';
  if (start.startsWith('{') || start.startsWith('[')) return 'application/json';
  return 'text/plain';
}

/** Classify a sample: the first bytes of a file, and its last ones. */
export function sniffBytes(head: Buffer, tail: Buffer, size: number): Sniffed {
  if (size === 0) return result('application/x-empty');
  const at = (offset: number, bytes: number[]) => bytes.every((b, i) => head[offset + i] === b);
  const text4 = ascii(head, 0, 4);

  // POSIX and GNU tar both write "ustar" at 257 in every header; first, as
  // the first file's bytes follow at 512 (a PDF's header would be seen).
  if (head.length >= 512 && ascii(head, 257, 262) === 'ustar') return result('application/x-tar');
  // A ZIP starts with its first entry, whose stored bytes may be a PDF's.
  if (at(0, [0x50, 0x4b, 0x03, 0x04])) return result(sniffContainer(head, tail));
  // PDF: the header may sit anywhere in the first 1 KiB; a file cut short
  // loses its end-of-file marker, which readers expect in the last 1 KiB.
  const pdfAt = ascii(head, 0, 1024).indexOf('%PDF-');
  if (pdfAt >= 0) {
    const end = ascii(tail, Math.max(0, tail.length - 1024), tail.length);
    return end.includes('%%EOF')
      ? result('application/pdf')
      : result('application/pdf', 'it has no %%EOF end marker, so it was most likely cut short or damaged');
  }
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return result('image/png');
  if (at(0, [0xff, 0xd8, 0xff])) return result('image/jpeg');
  if (text4 === 'GIF8') return result('image/gif');
  if (at(0, [0x49, 0x49, 0x2a, 0x00]) || at(0, [0x4d, 0x4d, 0x00, 0x2a])) return result('image/tiff');
  if (
    text4.startsWith('BM') &&
    head.length >= 18 &&
    [12, 40, 52, 56, 108, 124].includes(head.readUInt32LE(14))
  )
    return result('image/bmp');
  if (text4 === 'RIFF') {
    const form = ascii(head, 8, 12);
    if (form === 'WEBP') return result('image/webp');
    if (form === 'WAVE') return result('audio/wav');
    if (form === 'AVI ') return result('video/x-msvideo');
  }
  if (ascii(head, 4, 8) === 'ftyp') return result(sniffIsoMedia(head));
  if (at(0, [0x1a, 0x45, 0xdf, 0xa3]))
    return result(ascii(head, 0, 64).includes('webm') ? 'video/webm' : 'video/x-matroska');
  if (text4 === 'OggS') return result(ascii(head, 0, 256).includes('theora') ? 'video/ogg' : 'audio/ogg');
  if (text4 === 'fLaC') return result('audio/flac');
  if (text4 === 'FORM' && /^AIF[FC]$/.test(ascii(head, 8, 12))) return result('audio/aiff');
  if (ascii(head, 0, 3) === 'ID3') return result('audio/mpeg');
  if (ascii(head, 0, 3) === 'FLV') return result('video/x-flv');
  if (at(0, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11])) return result('video/x-ms-asf');
  if (at(0, [0x00, 0x00, 0x01, 0xba]) || at(0, [0x00, 0x00, 0x01, 0xb3])) return result('video/mpeg');
  if (head[0] === 0x47 && head.length > 376 && head[188] === 0x47 && head[376] === 0x47)
    return result('video/mp2t');
  if (head[0] === 0xff && head.length > 1) {
    const b = head[1] as number;
    if ((b & 0xf6) === 0xf0) return result('audio/aac'); // ADTS: layer bits 00
    if ((b & 0xe0) === 0xe0 && (b & 0x06) !== 0) return result('audio/mpeg');
  }
  if (at(0, [0x1f, 0x8b])) return result('application/gzip');
  if (at(0, [0x28, 0xb5, 0x2f, 0xfd])) return result('application/zstd');
  // Named so a refusal says what was sent: archive types take zip, tar, gzip or zstd.
  if (at(0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return result('application/x-xz');
  if (ascii(head, 0, 3) === 'BZh' && head.length > 4 && head[3]! >= 0x31 && head[3]! <= 0x39)
    return result('application/x-bzip2');
  if (at(0, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return result(sniffOle(head, tail));
  if (isUtf8Text(head, size <= head.length)) return result(sniffText(head));
  return result('application/octet-stream');
}

/** Read the head and tail of a file and classify it. */
export async function sniffFile(path: string): Promise<Sniffed> {
  // Two 64 KiB reads of a local file: done synchronously, as the runner's
  // other small file steps are (see runner.ts), to spare five thread-pool round trips.
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    readSync(fd, head, 0, head.length, 0);
    let tail = head;
    if (size > head.length) {
      tail = Buffer.alloc(Math.min(TAIL_BYTES, size));
      readSync(fd, tail, 0, tail.length, size - tail.length);
    }
    return sniffBytes(head, tail, size);
  } finally {
    closeSync(fd);
  }
}

const TEXTUAL = new Set(['text/plain', 'text/html', 'application/json', 'text/markdown', 'text/csv']);

/**
 * The entry of `accepted` that the sniffed type satisfies, or undefined.
 * Plain text cannot tell Markdown from CSV by its bytes, so any textual input
 * satisfies `text/plain`, and plain text satisfies any other `text/*` but HTML.
 * An exact match wins over a compatible one.
 */
export function matchAccepted(detected: string, accepted: readonly string[]): string | undefined {
  if (accepted.includes(detected)) return detected;
  for (const want of accepted) {
    if (want === '*/*' || want === '*') return want;
    if (want.endsWith('/*') && detected.startsWith(want.slice(0, -1))) return want;
    if (want === 'text/plain' && TEXTUAL.has(detected)) return want;
    if (want.startsWith('text/') && want !== 'text/html' && detected === 'text/plain') return want;
  }
  return undefined;
}
