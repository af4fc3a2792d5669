/**
 * Writes the files under a directory to stdout as one ZIP archive, for types
 * whose output is several files (pdf/split, pdf/images). Entries are in
 * natural name order (page-2 before page-10), deflated when that saves space.
 * Usage: node zip-dir.mjs DIR
 */
import { readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';

const dir = process.argv[2];
const natural = new Intl.Collator('en', { numeric: true }).compare;

function list(base, prefix = '') {
  const out = [];
  for (const name of readdirSync(join(base, prefix)).sort(natural)) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(join(base, rel)).isDirectory()) out.push(...list(base, rel));
    else out.push(rel);
  }
  return out;
}

const files = list(dir);
if (files.length === 0) {
  process.stderr.write('bsubio: the tool produced no files.\n');
  process.exit(1);
}
if (files.length > 65535) {
  process.stderr.write('bsubio: more than 65535 output files.\n');
  process.exit(1);
}

/** Synchronous on purpose: stdout is the job's output file, written in order. */
const write = (buf) => {
  let off = 0;
  while (off < buf.length) off += writeSync(1, buf, off, buf.length - off);
};

// DOS time of 1980-01-01: outputs are the same bytes for the same input.
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
let offset = 0;
const central = [];
for (const name of files) {
  const data = readFileSync(join(dir, name));
  const crc = crc32(data) >>> 0;
  const deflated = deflateRawSync(data);
  const [method, body] = deflated.length < data.length ? [8, deflated] : [0, data];
  const nameBytes = Buffer.from(name, 'utf8');
  if (offset + 30 + nameBytes.length + body.length > 0xffffffff) {
    process.stderr.write('bsubio: the output archive would pass 4 GiB.\n');
    process.exit(1);
  }
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0x800, 6); // names are UTF-8
  local.writeUInt16LE(method, 8);
  local.writeUInt16LE(0, 10);
  local.writeUInt16LE(DOS_DATE, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  local.writeUInt16LE(0, 28);
  write(local);
  write(nameBytes);
  write(body);
  const entry = Buffer.alloc(46);
  entry.writeUInt32LE(0x02014b50, 0);
  entry.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
  entry.writeUInt16LE(20, 6);
  entry.writeUInt16LE(0x800, 8);
  entry.writeUInt16LE(method, 10);
  entry.writeUInt16LE(0, 12);
  entry.writeUInt16LE(DOS_DATE, 14);
  entry.writeUInt32LE(crc, 16);
  entry.writeUInt32LE(body.length, 20);
  entry.writeUInt32LE(data.length, 24);
  entry.writeUInt16LE(nameBytes.length, 28);
  entry.writeUInt32LE((0o100644 << 16) >>> 0, 38);
  entry.writeUInt32LE(offset, 42);
  central.push(entry, nameBytes);
  offset += 30 + nameBytes.length + body.length;
}
const cd = Buffer.concat(central);
const end = Buffer.alloc(22);
end.writeUInt32LE(0x06054b50, 0);
end.writeUInt16LE(files.length, 8);
end.writeUInt16LE(files.length, 10);
end.writeUInt32LE(cd.length, 12);
end.writeUInt32LE(offset, 16);
write(cd);
write(end);
