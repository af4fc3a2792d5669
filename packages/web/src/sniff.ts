/**
 * What kind of file a person chose, from its first bytes rather than its name
 * or the browser's guess (a renamed PNG is still a PNG), so that a file a type
 * cannot take is refused before it is uploaded, with the reason.
 */
import { FILE_KINDS, zipContentType } from '@bsubio/protocol/file-kinds';

export { describeAccepted } from '@bsubio/protocol/file-kinds';

import type { ProcessingType } from 'bsubio';

const SIGNATURES: [string, number[], number?][] = [
  ['application/pdf', [0x25, 0x50, 0x44, 0x46, 0x2d]],
  ['image/png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['image/jpeg', [0xff, 0xd8, 0xff]],
  ['image/gif', [0x47, 0x49, 0x46, 0x38]],
  ['image/webp', [0x57, 0x45, 0x42, 0x50], 8],
  ['image/tiff', [0x49, 0x49, 0x2a, 0x00]],
  ['image/tiff', [0x4d, 0x4d, 0x00, 0x2a]],
  ['image/bmp', [0x42, 0x4d]],
  ['application/zip', [0x50, 0x4b, 0x03, 0x04]],
  ['application/gzip', [0x1f, 0x8b]],
  ['application/x-tar', [0x75, 0x73, 0x74, 0x61, 0x72], 257],
  ['audio/mpeg', [0x49, 0x44, 0x33]],
  ['audio/ogg', [0x4f, 0x67, 0x67, 0x53]],
  ['audio/flac', [0x66, 0x4c, 0x61, 0x43]],
  ['audio/wav', [0x57, 0x41, 0x56, 0x45], 8],
  ['video/mp4', [0x66, 0x74, 0x79, 0x70], 4],
  ['video/webm', [0x1a, 0x45, 0xdf, 0xa3]],
];

export interface Sniffed {
  /** The MIME type the bytes show, e.g. `image/png`, or `text/plain` for text. */
  mime: string;
  /** A word for people: "a PNG image", "text". */
  label: string;
}

function matches(bytes: Uint8Array, signature: number[], offset = 0): boolean {
  return signature.every((b, i) => bytes[offset + i] === b);
}

/** Text is what decodes as UTF-8 with no NUL bytes. */
function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    // A multi-byte character cut by the sample's end is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, Math.max(0, bytes.length - 4)));
    return true;
  } catch {
    return false;
  }
}

/** A ZIP file's kind (an office document?), from its first and last bytes. */
async function zipKind(file: Blob, head: Uint8Array): Promise<string> {
  const tail = new Uint8Array(await file.slice(Math.max(0, file.size - 65536)).arrayBuffer());
  const latin1 = new TextDecoder('latin1');
  return zipContentType(latin1.decode(head), latin1.decode(tail));
}

export async function sniff(file: Blob & { name?: string }): Promise<Sniffed> {
  const bytes = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  for (const [signatureMime, signature, offset] of SIGNATURES) {
    if (!matches(bytes, signature, offset)) continue;
    const mime = signatureMime === 'application/zip' ? await zipKind(file, bytes) : signatureMime;
    return { mime, label: labelOf(mime) };
  }
  if (bytes.length === 0) return { mime: 'application/octet-stream', label: 'an empty file' };
  if (looksLikeText(bytes)) {
    const head = new TextDecoder().decode(bytes).trimStart();
    const name = file.name?.toLowerCase() ?? '';
    if ((head.startsWith('{') || head.startsWith('[')) && !name.endsWith('.txt'))
      return { mime: 'application/json', label: 'JSON' };
    if (/^<(!doctype html|html)/i.test(head)) return { mime: 'text/html', label: 'HTML' };
    if (head.startsWith('<?xml') || head.startsWith('<svg')) {
      return head.includes('<svg')
        ? { mime: 'image/svg+xml', label: 'an SVG image' }
        : { mime: 'application/xml', label: 'XML' };
    }
    if (name.endsWith('.md')) return { mime: 'text/markdown', label: 'Markdown text' };
    if (name.endsWith('.csv')) return { mime: 'text/csv', label: 'CSV text' };
    return { mime: 'text/plain', label: 'text' };
  }
  return { mime: 'application/octet-stream', label: 'binary data of an unknown kind' };
}

function labelOf(mime: string): string {
  return FILE_KINDS[mime]?.label ?? `a file of type ${mime}`;
}

/** Whether `type` takes a file of kind `mime` (its `mime_in` may use wildcards such as `image/*` or `*\/*`). */
export function accepts(type: ProcessingType, mime: string): boolean {
  const inputs = type.input.mime_in;
  if (inputs.length === 0) return true;
  return inputs.some((accepted) => {
    if (accepted === '*/*' || accepted === 'application/octet-stream') return true;
    if (accepted.endsWith('/*')) return mime.startsWith(accepted.slice(0, -1));
    if (accepted === mime) return true;
    // Text flavours: a type taking text/plain takes CSV, Markdown, JSON and so on.
    if (accepted === 'text/plain')
      return mime.startsWith('text/') || mime === 'application/json' || mime === 'application/xml';
    return false;
  });
}

/** The `accept` attribute of the file input for a type. */
export function acceptAttribute(type: ProcessingType | undefined): string | undefined {
  if (!type || type.input.mime_in.some((m) => m === '*/*' || m === 'application/octet-stream'))
    return undefined;
  const list = [...type.input.mime_in];
  if (list.includes('text/plain')) list.push('.txt', '.csv', '.md', '.json', '.log');
  return list.join(',');
}

/** The available type to propose for a file: the first that accepts its kind, preferring a specific match. */
export function proposeType(types: ProcessingType[], mime: string): ProcessingType | undefined {
  const usable = types.filter((t) => t.available !== false);
  return (
    usable.find((t) => t.input.mime_in.includes(mime)) ??
    usable.find((t) => t.input.mime_in.some((m) => m.endsWith('/*') && mime.startsWith(m.slice(0, -1)))) ??
    usable.find((t) => accepts(t, mime) && !t.input.mime_in.includes('*/*'))
  );
}
