/**
 * Kinds of file, shared by the worker's sniffing of an upload and the
 * dashboard's, before it, so that both name and tell them apart alike: their
 * names and extensions, and what kind of document a ZIP file is (Office Open
 * XML, OpenDocument and EPUB files are all ZIP archives, taken by the
 * processing types by these MIME types). Plain data and code, with no
 * dependency, for Node and the browser both.
 */

/**
 * The kinds of file the processing types take and give, by MIME type: the
 * usual extension and a name for people ("a PDF document"). The worker names
 * an input's kind with it when a type refuses it; the dashboard, when a
 * person picks a file.
 */
export const FILE_KINDS: Record<string, { ext: string; label: string }> = {
  'application/pdf': { ext: '.pdf', label: 'a PDF document' },
  'image/png': { ext: '.png', label: 'a PNG image' },
  'image/jpeg': { ext: '.jpg', label: 'a JPEG image' },
  'image/gif': { ext: '.gif', label: 'a GIF image' },
  'image/tiff': { ext: '.tif', label: 'a TIFF image' },
  'image/bmp': { ext: '.bmp', label: 'a BMP image' },
  'image/webp': { ext: '.webp', label: 'a WebP image' },
  'image/heic': { ext: '.heic', label: 'a HEIF image' },
  'image/svg+xml': { ext: '.svg', label: 'an SVG image' },
  'video/mp4': { ext: '.mp4', label: 'an MP4 video' },
  'video/quicktime': { ext: '.mov', label: 'a QuickTime video' },
  'video/3gpp': { ext: '.3gp', label: 'a 3GP video' },
  'video/webm': { ext: '.webm', label: 'a WebM video' },
  'video/x-matroska': { ext: '.mkv', label: 'a Matroska video' },
  'video/x-msvideo': { ext: '.avi', label: 'an AVI video' },
  'video/x-flv': { ext: '.flv', label: 'a Flash video' },
  'video/mp2t': { ext: '.ts', label: 'an MPEG transport stream' },
  'video/mpeg': { ext: '.mpg', label: 'an MPEG video' },
  'video/x-ms-asf': { ext: '.wmv', label: 'a Windows Media file' },
  'video/ogg': { ext: '.ogv', label: 'an Ogg video' },
  'audio/mp4': { ext: '.m4a', label: 'an MPEG-4 audio file' },
  'audio/wav': { ext: '.wav', label: 'a WAV audio file' },
  'audio/mpeg': { ext: '.mp3', label: 'an MP3 audio file' },
  'audio/aac': { ext: '.aac', label: 'an AAC audio file' },
  'audio/ogg': { ext: '.ogg', label: 'an Ogg audio file' },
  'audio/flac': { ext: '.flac', label: 'a FLAC audio file' },
  'audio/aiff': { ext: '.aiff', label: 'an AIFF audio file' },
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': {
    ext: '.docx',
    label: 'a Word (.docx) document',
  },
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': {
    ext: '.xlsx',
    label: 'an Excel (.xlsx) workbook',
  },
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': {
    ext: '.pptx',
    label: 'a PowerPoint (.pptx) presentation',
  },
  'application/vnd.oasis.opendocument.text': { ext: '.odt', label: 'an OpenDocument text' },
  'application/vnd.oasis.opendocument.spreadsheet': { ext: '.ods', label: 'an OpenDocument spreadsheet' },
  'application/vnd.oasis.opendocument.presentation': { ext: '.odp', label: 'an OpenDocument presentation' },
  'application/msword': { ext: '.doc', label: 'a Word 97-2003 (.doc) document' },
  'application/vnd.ms-excel': { ext: '.xls', label: 'an Excel 97-2003 (.xls) workbook' },
  'application/vnd.ms-powerpoint': { ext: '.ppt', label: 'a PowerPoint 97-2003 (.ppt) presentation' },
  'application/x-tar': { ext: '.tar', label: 'a tar archive' },
  'application/zstd': { ext: '.zst', label: 'a zstd-compressed file' },
  'application/x-xz': { ext: '.xz', label: 'an xz-compressed file' },
  'application/x-bzip2': { ext: '.bz2', label: 'a bzip2-compressed file' },
  'image/avif': { ext: '.avif', label: 'an AVIF image' },
  'text/csv': { ext: '.csv', label: 'CSV text' },
  'text/x-tex': { ext: '.tex', label: 'a LaTeX document' },
  'text/x-typst': { ext: '.typ', label: 'a Typst document' },
  'application/epub+zip': { ext: '.epub', label: 'an EPUB book' },
  'application/zip': { ext: '.zip', label: 'a ZIP archive' },
  'application/gzip': { ext: '.gz', label: 'a gzip file' },
  'application/rtf': { ext: '.rtf', label: 'an RTF document' },
  'application/x-ole-storage': { ext: '.doc', label: 'an old Microsoft Office file' },
  'text/html': { ext: '.html', label: 'an HTML document' },
  'application/json': { ext: '.json', label: 'a JSON document' },
  'text/plain': { ext: '.txt', label: 'plain text' },
  'text/markdown': { ext: '.md', label: 'Markdown text' },
  'application/x-empty': { ext: '', label: 'an empty file' },
  'application/octet-stream': { ext: '', label: 'binary data of no known format' },
};

/**
 * What a type takes (its `mime_in`), for people: extensions where known
 * (".docx, .odt or .rtf files"), "any image" for image/*, "any text" for
 * text/plain, the MIME type otherwise.
 */
export function describeAccepted(mimeIn: string[]): string {
  const words = mimeIn.map((mime) => {
    if (mime === '*/*' || mime === 'application/octet-stream') return 'any file';
    // Any text satisfies text/plain (see the worker's matchAccepted).
    if (mime === 'text/plain') return 'any text';
    if (mime.endsWith('/*')) return `any ${mime.slice(0, -2)}`;
    return FILE_KINDS[mime]?.ext || mime;
  });
  const unique = [...new Set(words)];
  const files = unique.every((word) => word.startsWith('.')) ? ' files' : '';
  const last = unique.at(-1) ?? 'nothing';
  return unique.length <= 1 ? `${last}${files}` : `${unique.slice(0, -1).join(', ')} or ${last}${files}`;
}

/** A kind of file for people, with its MIME type: "plain text (text/plain)". */
export function describeKind(mime: string): string {
  const label = FILE_KINDS[mime]?.label;
  return label ? `${label} (${mime})` : mime;
}

/**
 * The MIME type of a ZIP file from its first bytes and its last ones (where
 * the central directory lists every entry's name), both decoded as latin1:
 * OpenDocument and EPUB name their type in a first, stored entry called
 * "mimetype"; Office Open XML is known by the names of its parts. Anything
 * else is `application/zip`.
 */
export function zipContentType(head: string, tail: string): string {
  if (head.slice(30, 38) === 'mimetype') {
    const declared = head.slice(38, 98);
    for (const mime of DECLARED_IN_MIMETYPE) if (declared.startsWith(mime)) return mime;
  }
  const names = head + tail;
  for (const [part, mime] of OFFICE_PARTS) if (names.includes(part)) return mime;
  return 'application/zip';
}

const DECLARED_IN_MIMETYPE = [
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
  'application/vnd.oasis.opendocument.presentation',
  'application/epub+zip',
];

const OFFICE_PARTS: [string, string][] = [
  ['word/document', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  ['xl/workbook', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  ['ppt/presentation', 'application/vnd.openxmlformats-officedocument.presentationml.presentation'],
];
