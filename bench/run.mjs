// `npm run bench`: runs every bench/*.bench.mjs in turn (or those named on
// the command line), echoing their output, and collects the rows they report
// into docs/benchmarks.md and docs/benchmarks.svg (a run of the default six only: a
// partial run prints its rows but leaves the document alone, unless
// BENCH_WRITE=1). Each benchmark starts and stops the servers it needs itself.
//
// `--repeat N` runs the whole selection N times and reports each line's
// median (and the spread of its ours/peer ratio). The machine is measured at the start
// and the end (bench/calm.mjs); a run where a busy loop got under 90 % of its
// time is marked noisy, and its ratios are not evidence.
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeCalm, isCalm, measureCalm } from './calm.mjs';
import { machine, medianRows, renderChart, renderSection, renderTable, writeDocument } from './report.mjs';
import { REPORT_PREFIX, ROOT } from './support.mjs';

// The six lines of the report, in the issue's order (1-6). live and
// sdk-upload (latency of live results, the SDK's own memory) have no peer
// and run only when named.
const ORDER = ['queue', 'http', 'server-memory', 'e2e', 'processing', 'scale', 'live', 'sdk-upload'];
const DEFAULT = ORDER.slice(0, 6);
const dir = import.meta.dirname;
const args = process.argv.slice(2);
const repeatAt = args.indexOf('--repeat');
const repeat = repeatAt >= 0 ? Number(args.splice(repeatAt, 2)[1]) : 1;
if (!Number.isInteger(repeat) || repeat < 1) {
  process.stderr.write('bench: --repeat takes a whole number of runs, like --repeat 3\n');
  process.exit(2);
}
const wanted = args;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) =>
    wanted.length === 0 ? DEFAULT.includes(f.replace('.bench.mjs', '')) : wanted.some((w) => f.includes(w)),
  )
  .sort((a, b) => ORDER.indexOf(a.replace('.bench.mjs', '')) - ORDER.indexOf(b.replace('.bench.mjs', '')));

function runOne(file) {
  return new Promise((resolveRun) => {
    const rows = [];
    const child = spawn(process.execPath, ['--expose-gc', join(dir, file)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let pending = '';
    child.stdout.on('data', (d) => {
      pending += d;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(REPORT_PREFIX)) {
          const row = JSON.parse(line.slice(REPORT_PREFIX.length));
          rows.push(row);
          const ratio = row.skipped
            ? `skipped: ${row.skipped}`
            : `ours ${row.ours.toFixed(2)} ${row.unit}, peer ${row.peer.toFixed(2)} ${row.unit}, ratio ${(row.ours / row.peer).toFixed(2)} (${row.better} is better)`;
          process.stdout.write(`  [${row.item}] ${row.what}: ${ratio}\n`);
        } else {
          process.stdout.write(`${line}\n`);
        }
        nl = pending.indexOf('\n');
      }
    });
    child.once('close', (code) => {
      if (pending) process.stdout.write(`${pending}\n`);
      resolveRun({ code, rows });
    });
  });
}

const startedAt = new Date();
const t0 = performance.now();
const calmBefore = await measureCalm();
process.stdout.write(`machine at the start: ${describeCalm(calmBefore)}\n`);
const runs = [];
let failed = 0;
for (let round = 1; round <= repeat; round++) {
  const rows = [];
  for (const file of files) {
    process.stdout.write(`\n== ${file}${repeat > 1 ? ` (run ${round} of ${repeat})` : ''}\n`);
    const t = performance.now();
    const result = await runOne(file);
    process.stdout.write(`   (${((performance.now() - t) / 1000).toFixed(0)} s)\n`);
    rows.push(...result.rows);
    if (result.code !== 0) {
      failed++;
      const item = DEFAULT.indexOf(file.replace('.bench.mjs', '')) + 1;
      if (item > 0 && result.rows.length === 0)
        rows.push({ item, what: file, skipped: `failed (exit ${result.code}), see the run's output` });
    }
  }
  runs.push(rows);
}
const calmAfter = await measureCalm();
process.stdout.write(`machine at the end: ${describeCalm(calmAfter)}\n`);
const calm = isCalm(calmBefore, calmAfter);
if (!calm) process.stdout.write('NOISY RUN: the machine was not calm; its ratios are not evidence.\n');
const rows = repeat > 1 ? medianRows(runs) : runs[0];
const seconds = (performance.now() - t0) / 1000;
rows.sort((a, b) => a.item - b.item);
process.stdout.write(`\n${renderTable(rows)}\n\nwhole suite: ${(seconds / 60).toFixed(1)} min\n`);

if (wanted.length === 0 || process.env.BENCH_WRITE === '1') {
  const settings = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_WRITE')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  writeFileSync(join(ROOT, 'docs', 'benchmarks.svg'), renderChart(rows));
  writeDocument(
    join(ROOT, 'docs', 'benchmarks.md'),
    renderSection({
      rows,
      machine: machine(),
      command: 'npm run bench',
      startedAt: startedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
      seconds,
      chartFile: 'benchmarks.svg',
      settings: settings ? `${settings} (defaults otherwise)` : 'the defaults',
      calm: { before: calmBefore, after: calmAfter, calm },
      repeat,
    }),
  );
  process.stdout.write('wrote docs/benchmarks.md and docs/benchmarks.svg\n');
}
process.exit(failed === 0 ? 0 : 1);
