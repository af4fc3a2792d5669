/**
 * What kind of document a ZIP file is. Office Open XML (.docx, .xlsx, .pptx),
 * OpenDocument and EPUB files are all ZIP archives; the processing types take
 * them by these MIME types, so the worker's sniffing of an upload and the
 * dashboard's, before it, must tell them apart alike. Plain code on strings,
 * with no dependency, for Node and the browser both.
 */

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
