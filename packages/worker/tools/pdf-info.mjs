// pdf/info: pdfinfo's report as a JSON object. Keys are pdfinfo's labels in
// snake_case ("Page size" → "page_size"); counts become numbers, yes/no
// become booleans, dates stay ISO 8601 strings (-isodates). Exits with
// pdfinfo's code and passes its stderr through when it fails.
import { spawnSync } from 'node:child_process';

const input = process.argv[2];
const run = spawnSync('pdfinfo', ['-isodates', input], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
if (run.error) {
  process.stderr.write(`pdf-info: cannot run pdfinfo: ${run.error.message}\n`);
  process.exit(1);
}
process.stderr.write(run.stderr);
if (run.status !== 0) process.exit(run.status ?? 1);

const info = {};
for (const line of run.stdout.split('\n')) {
  const match = /^([^:]+):\s*(.*)$/.exec(line);
  if (!match) continue;
  const key = match[1]
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
  const raw = match[2].trim();
  let value = raw;
  if (raw === 'yes') value = true;
  else if (raw === 'no') value = false;
  else if (key !== 'pdf_version' && /^-?\d+(\.\d+)?$/.test(raw)) value = Number(raw);
  else if (key === 'file_size') value = Number.parseInt(raw, 10);
  else if (key === 'page_size') {
    const size = /^([\d.]+) x ([\d.]+) pts(?: \((.+)\))?/.exec(raw);
    if (size) {
      info.page_width_pts = Number(size[1]);
      info.page_height_pts = Number(size[2]);
      if (size[3]) info.paper = size[3];
    }
  }
  info[key] = value;
}
process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
