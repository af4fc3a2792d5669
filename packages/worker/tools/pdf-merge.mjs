/**
 * pdf/merge: the PDFs unpacked from the job's archive, one after the other,
 * with qpdf. The order is the one in a file named order.txt (one name per
 * line, blank lines and # comments skipped) when the archive has one, else
 * natural name order (2.pdf before 10.pdf), as people number their files.
 * Usage: node pdf-merge.mjs FILES_DIR
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const natural = new Intl.Collator('en', { numeric: true }).compare;
const fail = (message) => {
  process.stderr.write(`bsubio: ${message}\n`);
  process.exit(2);
};

function pdfsUnder(prefix = '') {
  const out = [];
  for (const name of readdirSync(join(dir, prefix)).sort(natural)) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(join(dir, rel)).isDirectory()) out.push(...pdfsUnder(rel));
    else if (/\.pdf$/i.test(name)) out.push(rel);
  }
  return out;
}

let order;
const manifest = join(dir, 'order.txt');
if (existsSync(manifest)) {
  order = readFileSync(manifest, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const name of order) {
    if (!existsSync(join(dir, name)))
      fail(`order.txt names ${JSON.stringify(name)}, which is not in the archive.`);
  }
} else {
  order = pdfsUnder();
}
if (order.length === 0) fail('the archive holds no .pdf files.');
process.stderr.write(`merging ${order.length} PDFs: ${order.join(', ')}\n`);
// qpdf --empty --pages a.pdf b.pdf -- out: every page of each, in this order.
execFileSync(
  'qpdf',
  ['--warning-exit-0', '--empty', '--pages', ...order.map((n) => join(dir, n)), '--', '/tmp/merged.pdf'],
  {
    stdio: ['ignore', 2, 2],
  },
);
process.stdout.write(readFileSync('/tmp/merged.pdf'));
