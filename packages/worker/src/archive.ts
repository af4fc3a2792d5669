/**
 * Unpacks an input archive (zip, or tar: plain, gzip or zstd) into the
 * directory the sandbox sees at /in/files, for types that take several files
 * in one job (pdf/merge, LaTeX projects). This runs on the host, before the
 * sandbox, so every entry is checked before a byte is written:
 *
 * - names: no absolute paths, no `..`, nothing but a plain relative path;
 *   names in any encoding (zip's CP437 or UTF-8, tar's bytes) become UTF-8;
 * - types: files and directories; symbolic links only when they stay in the
 *   tree; no hard links, devices, FIFOs or sockets;
 * - sizes: at most `maxEntries` entries and `maxBytes` unpacked, and once
 *   past RATIO_GRACE_BYTES no more than `maxRatio` times the archive's size
 *   (a zip bomb), counted on the bytes really inflated, not the sizes the
 *   archive declares.
 *
 * Files are created with O_EXCL | O_NOFOLLOW and symbolic links only after
 * every file and directory is written, so no write can follow a link made by
 * the archive; each link is then resolved on the host and must land inside.
 * Any problem is an ArchiveError whose message says what to fix; the caller
 * removes the half-unpacked directory.
 */
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { crc32, createGunzip, createInflateRaw, createZstdDecompress } from 'node:zlib';

export interface UnpackLimits {
  maxEntries: number;
  maxBytes: number;
  maxRatio: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = {
  maxEntries: 10_000,
  maxBytes: 1024 * 1024 * 1024,
  maxRatio: 100,
};

/** Below this many unpacked bytes the ratio is not checked: small text compresses very well. */
const RATIO_GRACE_BYTES = 32 * 1024 * 1024;

/** The archive formats unpacked, by the MIME type sniff.ts gives them. */
export const ARCHIVE_TYPES = ['application/zip', 'application/x-tar', 'application/gzip', 'application/zstd'];

export class ArchiveError extends Error {
  override name = 'ArchiveError';
}

export interface Unpacked {
  /** Relative paths of the regular files, in archive order. */
  files: string[];
  bytes: number;
}

type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'device' | 'other';

/** Unpack `archive` (of sniffed type `mime`) into the empty directory `dest`. */
export async function unpackArchive(
  archive: string,
  mime: string,
  dest: string,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<Unpacked> {
  const writer = new TreeWriter(dest, limits, fileSizeOf(archive));
  try {
    if (mime === 'application/zip') await readZip(archive, writer);
    else if (mime === 'application/x-tar') await readTar(createReadStream(archive), writer);
    else if (mime === 'application/gzip')
      await readTar(chain(createReadStream(archive), createGunzip()), writer);
    else if (mime === 'application/zstd')
      await readTar(chain(createReadStream(archive), createZstdDecompress()), writer);
    else throw new ArchiveError(`is ${mime}, which is not an archive this server unpacks (zip or tar).`);
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    // zlib's and zstd's errors: the compressed data is broken.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || code.includes('ZSTD'))
      throw new ArchiveError(`could not be decompressed (${(err as Error).message}); it may be damaged.`);
    throw err;
  }
  writer.finishLinks();
  openUp(dest);
  return { files: writer.files, bytes: writer.bytes };
}

/**
 * Readable by the sandbox's user whatever the worker's umask: directories
 * 0755, files 0644 (the tree is mounted read-only). Links are not followed.
 */
function openUp(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) openUp(path);
    else if (entry.isFile()) chmodSync(path, 0o644);
  }
}

/**
 * The file through a decompressor, as one stream. Unlike pipe(), stopping
 * early (an entry refused) also closes the file, and a read error reaches
 * the reader.
 */
function chain(source: Readable, transform: Transform): Transform {
  return pipeline(source, transform, () => {
    // Errors reach the reader through `transform`; a premature close is ours.
  });
}

function fileSizeOf(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/**
 * The one safe form of an entry's name: relative, `/`-separated, without `.`
 * or `..` components. Throws for anything else.
 */
export function safeRelativePath(name: string): string {
  const shown = JSON.stringify(name.slice(0, 200));
  if (name.includes('\0')) throw new ArchiveError(`has an entry name with a NUL byte (${shown}).`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name))
    throw new ArchiveError(
      `has an entry with an absolute path, ${shown}; pack paths relative to the project.`,
    );
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new ArchiveError(
      `has an entry whose path climbs out with "..", ${shown}; pack paths inside the project.`,
    );
  if (parts.length === 0) throw new ArchiveError(`has an entry with an empty name.`);
  if (parts.length > 64)
    throw new ArchiveError(`has an entry nested more than 64 directories deep, ${shown}.`);
  for (const part of parts) {
    if (Buffer.byteLength(part) > 255) throw new ArchiveError(`has a name longer than 255 bytes, ${shown}.`);
  }
  return parts.join('/');
}

/** Writes the checked entries under `dest` and keeps the counts. */
class TreeWriter {
  readonly files: string[] = [];
  bytes = 0;
  private entries = 0;
  private readonly seen = new Set<string>();
  private readonly links: { path: string; target: string }[] = [];
  private readonly root: string;

  constructor(
    dest: string,
    readonly limits: UnpackLimits,
    private readonly archiveBytes: number,
  ) {
    this.root = realpathSync.native(dest);
  }

  /** Check one entry; returns its safe relative path. */
  begin(name: string, kind: EntryKind, linkTarget = ''): string {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries)
      throw new ArchiveError(`has more than ${this.limits.maxEntries} entries; send fewer files per job.`);
    const shown = JSON.stringify(name.slice(0, 200));
    if (kind === 'hardlink')
      throw new ArchiveError(
        `has a hard link, ${shown} → ${JSON.stringify(linkTarget)}; pack the file itself.`,
      );
    if (kind === 'device')
      throw new ArchiveError(
        `has a device file, FIFO or socket, ${shown}; only files, directories and links are unpacked.`,
      );
    if (kind === 'other') throw new ArchiveError(`has an entry of a kind not unpacked here, ${shown}.`);
    const path = safeRelativePath(name);
    if (kind !== 'dir') {
      if (this.seen.has(path)) throw new ArchiveError(`has ${shown} twice.`);
      this.seen.add(path);
    }
    if (kind === 'symlink') {
      if (linkTarget === '' || linkTarget.startsWith('/'))
        throw new ArchiveError(
          `has a symbolic link to an absolute path, ${shown} → ${JSON.stringify(linkTarget)}.`,
        );
      const resolved = posix.normalize(posix.join(posix.dirname(path), linkTarget));
      if (resolved === '..' || resolved.startsWith('../'))
        throw new ArchiveError(
          `has a symbolic link leaving the archive, ${shown} → ${JSON.stringify(linkTarget)}.`,
        );
      this.links.push({ path, target: linkTarget });
    }
    if (kind === 'dir') this.mkdirs(path);
    return path;
  }

  private mkdirs(path: string): void {
    try {
      mkdirSync(join(this.root, path), { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new ArchiveError(
        `cannot be unpacked: ${JSON.stringify(path)} is both a file and a directory (${(err as NodeJS.ErrnoException).code}).`,
      );
    }
  }

  /** A new file, never through a link and never over another file. */
  openFile(path: string): number {
    if (path.includes('/')) this.mkdirs(dirname(path));
    try {
      return openSync(
        join(this.root, path),
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o644,
      );
    } catch (err) {
      throw new ArchiveError(
        `cannot be unpacked at ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code}).`,
      );
    }
  }

  /** Count bytes as they are really unpacked: the size an entry declares may lie. */
  count(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.limits.maxBytes)
      throw new ArchiveError(
        `unpacks to more than ${Math.round(this.limits.maxBytes / 1024 / 1024)} MiB; send a smaller one.`,
      );
    if (this.bytes > RATIO_GRACE_BYTES && this.bytes > this.limits.maxRatio * Math.max(1, this.archiveBytes))
      throw new ArchiveError(
        `expands more than ${this.limits.maxRatio} times its size (${this.archiveBytes} bytes to over ${this.bytes}), like a zip bomb; it was not unpacked.`,
      );
  }

  fileDone(path: string): void {
    this.files.push(path);
  }

  /** Links last, so no file above was written through one; then each must resolve inside. */
  finishLinks(): void {
    for (const { path, target } of this.links) {
      if (path.includes('/')) this.mkdirs(dirname(path));
      symlinkSync(target, join(this.root, path));
    }
    for (const { path, target } of this.links) {
      let real: string;
      try {
        // The kernel's resolution (libc realpath): Node's own would fold "a/.." before following a.
        real = realpathSync.native(join(this.root, path));
      } catch {
        continue; // Dangling, inside: it reaches nothing.
      }
      if (real !== this.root && !real.startsWith(`${this.root}/`))
        throw new ArchiveError(
          `has a symbolic link leaving the archive through other links, ${JSON.stringify(path)} → ${JSON.stringify(target)}.`,
        );
    }
  }
}

/** Write a stream of an entry's bytes to a new file, counting them. */
async function writeEntry(writer: TreeWriter, path: string, data: AsyncIterable<Buffer>): Promise<number> {
  const fd = writer.openFile(path);
  let crc = 0;
  try {
    for await (const chunk of data) {
      writer.count(chunk.length);
      crc = crc32(chunk, crc);
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    }
  } finally {
    closeSync(fd);
  }
  writer.fileDone(path);
  return crc >>> 0;
}

// ---------------------------------------------------------------- zip

const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ';

/** Zip names are UTF-8 when flag bit 11 says so, else (by the spec) CP437. */
function decodeZipName(raw: Buffer, utf8: boolean): string {
  if (utf8) return raw.toString('utf8');
  let out = '';
  for (const b of raw) out += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return out;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const got = readSync(fd, buf, 0, length, position);
  return buf.subarray(0, got);
}

async function readZip(path: string, writer: TreeWriter): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const tailLength = Math.min(size, 22 + 65535);
    const tail = readAt(fd, size - tailLength, tailLength);
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0)
      throw new ArchiveError(
        'is not a complete ZIP file (no end of central directory); it may be cut short.',
      );
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff)
      throw new ArchiveError('is a ZIP64 archive, which is not unpacked here; send a tar archive instead.');
    // The central directory states the count: refuse a huge one before reading it.
    if (count > writer.limits.maxEntries)
      throw new ArchiveError(`has more than ${writer.limits.maxEntries} entries; send fewer files per job.`);
    const cd = readAt(fd, cdOffset, cdSize);
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (cd.readUInt32LE(at) !== 0x02014b50) throw new ArchiveError('has a damaged central directory.');
      const madeBy = cd.readUInt16LE(at + 4) >> 8;
      const flags = cd.readUInt16LE(at + 8);
      const method = cd.readUInt16LE(at + 10);
      const crc = cd.readUInt32LE(at + 16);
      const compressed = cd.readUInt32LE(at + 20);
      const nameLength = cd.readUInt16LE(at + 28);
      const extraLength = cd.readUInt16LE(at + 30);
      const commentLength = cd.readUInt16LE(at + 32);
      const external = cd.readUInt32LE(at + 38);
      const localOffset = cd.readUInt32LE(at + 42);
      let name = decodeZipName(cd.subarray(at + 46, at + 46 + nameLength), (flags & 0x800) !== 0);
      at += 46 + nameLength + extraLength + commentLength;
      // Some Windows tools write `\` between directories.
      if (madeBy === 0 || madeBy === 11) name = name.replace(/\\/g, '/');
      const mode = madeBy === 3 ? external >>> 16 : 0;
      const type = mode & 0o170000;
      let kind: EntryKind = 'file';
      if (name.endsWith('/') || type === 0o040000 || (madeBy !== 3 && external & 0x10)) kind = 'dir';
      else if (type === 0o120000) kind = 'symlink';
      else if (type !== 0 && type !== 0o100000) kind = 'device';
      if (flags & 1)
        throw new ArchiveError(`has an encrypted entry, ${JSON.stringify(name)}; send it unencrypted.`);
      if (method !== 0 && method !== 8)
        throw new ArchiveError(
          `uses a compression method (${method}) not unpacked here for ${JSON.stringify(name)}; use deflate.`,
        );
      const local = readAt(fd, localOffset, 30);
      if (local.length < 30 || local.readUInt32LE(0) !== 0x04034b50)
        throw new ArchiveError(`has a damaged entry, ${JSON.stringify(name)}.`);
      const dataStart = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      const data = (): AsyncIterable<Buffer> => {
        if (compressed === 0) return emptyStream();
        // A stream of its own on the path, never on `fd`: a stream destroyed
        // early closes its descriptor later, which could by then be another's.
        const raw = createReadStream(path, { start: dataStart, end: dataStart + compressed - 1 });
        return method === 8 ? chain(raw, createInflateRaw()) : raw;
      };
      if (kind === 'symlink') {
        let target = '';
        for await (const chunk of data()) {
          target += chunk.toString('utf8');
          if (target.length > 4096)
            throw new ArchiveError(`has a symbolic link with a target too long, ${JSON.stringify(name)}.`);
        }
        writer.begin(name, 'symlink', target);
        continue;
      }
      const safe = writer.begin(name, kind);
      if (kind !== 'file') continue;
      const got = await writeEntry(writer, safe, data());
      if (got !== crc)
        throw new ArchiveError(`has a damaged entry, ${JSON.stringify(name)} (its checksum does not match).`);
    }
  } finally {
    closeSync(fd);
  }
}

async function* emptyStream(): AsyncIterable<Buffer> {}

// ---------------------------------------------------------------- tar

/** Pulls exact byte counts out of a stream. */
class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private readonly iterator: AsyncIterator<Buffer>;
  private done = false;

  constructor(stream: Readable) {
    this.iterator = stream[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else {
        this.buffered.push(next.value);
        this.length += next.value.length;
      }
    }
    return this.length >= n;
  }

  /** Exactly n bytes, or fewer at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const all = Buffer.concat(this.buffered);
    const out = all.subarray(0, n);
    this.buffered = [all.subarray(n)];
    this.length = all.length - out.length;
    return out;
  }

  /** Up to `max` bytes, as they come. */
  async some(max: number): Promise<Buffer> {
    if (this.length === 0) await this.fill(1);
    return this.read(Math.min(max, this.length));
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

function tarNumber(field: Buffer): number {
  if (field[0] !== undefined && field[0] & 0x80) {
    // GNU base-256 for sizes past 8 GiB: far past any limit here.
    return Number.MAX_SAFE_INTEGER;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** Tar names are bytes: UTF-8 when they are valid UTF-8, else Latin-1. */
function decodeTarName(raw: Buffer): string {
  const cut = raw.indexOf(0);
  const bytes = cut >= 0 ? raw.subarray(0, cut) : raw;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number.parseInt(data.toString('latin1', at, space), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) out[record.toString('utf8', 0, eq)] = decodeTarName(record.subarray(eq + 1));
    at += length;
  }
  return out;
}

async function readTar(stream: Readable, writer: TreeWriter): Promise<void> {
  const reader = new ByteReader(stream);
  try {
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    for (;;) {
      const header = await reader.read(512);
      if (header.length < 512) {
        if (header.length === 0) break; // No end blocks: tolerated, as GNU tar does.
        throw new ArchiveError('is cut short (a tar header is incomplete).');
      }
      if (header.every((b) => b === 0)) break;
      if (header.toString('latin1', 257, 262) !== 'ustar' && !checksumOk(header))
        throw new ArchiveError('is not a tar archive (or it is damaged): a header does not check out.');
      const size = tarNumber(header.subarray(124, 136));
      const flag = String.fromCharCode(header[156] ?? 0);
      const padded = Math.ceil(size / 512) * 512;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > 1024 * 1024) throw new ArchiveError('has an extended header over 1 MiB.');
        const data = (await reader.read(padded)).subarray(0, size);
        if (flag === 'x') pax = parsePax(data);
        else if (flag === 'L') longName = decodeTarName(data);
        else if (flag === 'K') longLink = decodeTarName(data);
        continue;
      }
      const prefix =
        header.toString('latin1', 257, 262) === 'ustar' ? decodeTarName(header.subarray(345, 500)) : '';
      const base = decodeTarName(header.subarray(0, 100));
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/${base}` : base);
      const link = pax.linkpath ?? longLink ?? decodeTarName(header.subarray(157, 257));
      const entrySize = pax.size !== undefined ? Number(pax.size) : size;
      const entryPadded = Math.ceil(entrySize / 512) * 512;
      pax = {};
      longName = undefined;
      longLink = undefined;
      const kind: EntryKind =
        flag === '0' || flag === '\0' || flag === '7'
          ? name.endsWith('/')
            ? 'dir'
            : 'file'
          : flag === '5'
            ? 'dir'
            : flag === '2'
              ? 'symlink'
              : flag === '1'
                ? 'hardlink'
                : flag === '3' || flag === '4' || flag === '6'
                  ? 'device'
                  : 'other';
      const safe = writer.begin(name, kind, link);
      if (kind === 'file') {
        let left = entrySize;
        async function* body(): AsyncIterable<Buffer> {
          while (left > 0) {
            const chunk = await reader.some(Math.min(left, 1024 * 1024));
            if (chunk.length === 0) throw new ArchiveError('is cut short inside a file.');
            left -= chunk.length;
            yield chunk;
          }
        }
        await writeEntry(writer, safe, body());
        await reader.read(entryPadded - entrySize);
      } else {
        await reader.read(entryPadded);
      }
    }
  } finally {
    await reader.close();
  }
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum === tarNumber(header.subarray(148, 156));
}
