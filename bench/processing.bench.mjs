// Processing overhead: what bsubio adds around a tool.
//  1. The PDFs of ../shared/corpus/pdf through `pdf/extract`, versus
//     `pdftotext -layout` run directly, with the same parallelism (the
//     server's worker count). Ratio = bsubio wall time / direct wall time.
//     Beside it, for reference, the same pdftotext in the sandbox the worker
//     builds (buildSandboxCommand), spawned directly: what the service adds
//     around the sandbox, as the end-to-end line measures it.
//  2. The fixed cost of one job: sequential `passthru` jobs from create to
//     finished (create, upload, submit, wait), p50 and p99.
//  3. The result cache: each PDF's `pdf/extract` from submit to finished,
//     answered from the cache (target < 20 ms) versus run ("cache": false).
//     Lines 1 and 2 opt out of the cache, so they measure runs.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildSandboxCommand, Catalog } from '../packages/worker/dist/index.js';
import {
  loadedJob,
  machineCpuMs,
  percentile,
  processCpuMs,
  ROOT,
  report,
  startBenchServer,
  submitAndWait,
} from './support.mjs';

const execFileP = promisify(execFile);
const corpus = resolve(ROOT, '..', 'shared', 'corpus', 'pdf');
const PARALLEL = availableParallelism();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PASSTHRU_JOBS = Number(process.env.BENCH_PASSTHRU_JOBS ?? 50);

/** create → upload → submit → finished: the output, or why it failed; `create` adds to the create body (the cache switch). */
async function job(server, type, bytes, create = { cache: false }) {
  const done = await submitAndWait(server, await loadedJob(server, type, bytes, create));
  if (done.status === 'failed') return { failed: `${done.error_code}: ${done.error_message}` };
  const out = await fetch(`${server.url}/v1/jobs/${done.id}/output`, {
    headers: { authorization: `Bearer ${server.key}` },
  });
  return Buffer.from(await out.arrayBuffer());
}

/** Run fn over items with at most `limit` at once; returns wall milliseconds. */
async function timedPool(items, limit, fn) {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
  return performance.now() - started;
}

const PDFTOTEXT = ['pdftotext', '-layout', '-enc', 'UTF-8'];

/** A command's stdout; a damaged PDF is an outcome ({ failed }), not an error. */
async function outputOf(argv) {
  try {
    const { stdout } = await execFileP(argv[0], argv.slice(1), { encoding: 'buffer', maxBuffer: 1 << 30 });
    return stdout;
  } catch (err) {
    return { failed: String(err.stderr).trim().split('\n').at(-1) };
  }
}

/** pdftotext run directly. */
const pdftotext = (path) => outputOf([...PDFTOTEXT, path, '-']);

const extractLimits = Catalog.load().resolve('pdf/extract').definition.limits;

/** The same pdftotext inside the sandbox as the worker builds it (no cgroup or seccomp filter: the server adds those). */
const pdftotextInSandbox = (path) =>
  outputOf(
    buildSandboxCommand({
      argv: [...PDFTOTEXT, '/in/input.pdf', '-'],
      limits: extractLimits,
      readOnly: [{ host: path, sandbox: '/in/input.pdf' }],
    }),
  );

/**
 * CPU spent while fn runs: the whole machine's, the server process's own
 * (its JavaScript and system calls, not the tools it starts), and this
 * bench process's (the HTTP client, or the spawning of the direct sides).
 */
async function cpuOf(serverPid, fn) {
  const machine = machineCpuMs();
  const server = processCpuMs(serverPid);
  const client = process.cpuUsage();
  const wallMs = await fn();
  const { user, system } = process.cpuUsage(client);
  return {
    wallMs,
    machineMs: machineCpuMs() - machine,
    serverMs: processCpuMs(serverPid) - server,
    clientMs: (user + system) / 1000,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Milliseconds from submit to the job seen finished (a hit is finished when submit answers). */
async function submitToFinished(server, id) {
  const t = performance.now();
  const job = await submitAndWait(server, id);
  return { ms: performance.now() - t, job };
}

/**
 * Each PDF of the corpus (BENCH_CACHE_PDFS of them, default all) once run
 * with the cache on (it fills the cache), then timed: submit → finished
 * answered from the cache, and run again with "cache": false.
 */
async function cachedVersusRun(server) {
  const limit = Number(process.env.BENCH_CACHE_PDFS ?? Number.POSITIVE_INFINITY);
  const pdfs = readdirSync(corpus)
    .filter((f) => f.toLowerCase().endsWith('.pdf'))
    .slice(0, limit)
    .map((f) => readFileSync(join(corpus, f)));
  const cachedMs = [];
  const runMs = [];
  for (const bytes of pdfs) {
    const first = await submitToFinished(server, await loadedJob(server, 'pdf/extract', bytes, {}));
    if (first.job.status !== 'finished') continue; // a damaged PDF: nothing to cache
    const hit = await submitToFinished(server, await loadedJob(server, 'pdf/extract', bytes, {}));
    if (!hit.job.cached) throw new Error(`pdf/extract of the same PDF was not answered from the cache`);
    cachedMs.push(hit.ms);
    runMs.push(
      (await submitToFinished(server, await loadedJob(server, 'pdf/extract', bytes, { cache: false }))).ms,
    );
  }
  const cached = median(cachedMs);
  const cachedP99 = percentile(
    [...cachedMs].sort((a, b) => a - b),
    99,
  );
  const run = median(runMs);
  console.log(
    `result cache: ${cachedMs.length} PDFs, pdf/extract submit to finished, median: ` +
      `from the cache ${cached.toFixed(1)} ms (target < 20 ms, p99 ${cachedP99.toFixed(1)} ms), run ${run.toFixed(1)} ms`,
  );
  report({
    item: 5,
    what: `result cache: ${cachedMs.length} PDFs' pdf/extract, submit to finished, answered from the cache`,
    unit: 'ms',
    better: 'lower',
    ours: cached,
    peer: run,
    peerName: 'the same job run in its sandbox ("cache": false), median',
  });
  if (cached >= 20) failed = true;
}

const server = await startBenchServer({ BSUBIO_WORKERS: String(PARALLEL) });
let failed = false;
try {
  // 1. pdf/extract versus pdftotext.
  if (!existsSync(corpus)) {
    console.log(`pdf/extract: skipped, no corpus at ${corpus} (put PDFs in ../shared/corpus/pdf)`);
    report({ item: 5, what: 'processing: PDFs through pdf/extract vs pdftotext', skipped: 'no corpus' });
  } else {
    const pdfs = readdirSync(corpus)
      .filter((f) => f.toLowerCase().endsWith('.pdf'))
      .map((f) => ({ name: f, path: join(corpus, f), bytes: readFileSync(join(corpus, f)) }))
      // Largest first, both ways: the wall time is a makespan, and a big PDF
      // started last would leave one lane idle, whichever side drew it.
      .sort((a, b) => b.bytes.length - a.bytes.length);
    // Same output every way, checked once (and it warms the caches).
    for (const pdf of pdfs) {
      const direct = await pdftotext(pdf.path);
      const inSandbox = await pdftotextInSandbox(pdf.path);
      if (Buffer.isBuffer(direct) && !(Buffer.isBuffer(inSandbox) && direct.equals(inSandbox)))
        throw new Error(`${pdf.name}: pdftotext in the sandbox ${inSandbox.failed ?? 'gave other output'}`);
      const viaBsubio = await job(server, 'pdf/extract', pdf.bytes);
      if (Buffer.isBuffer(direct) !== Buffer.isBuffer(viaBsubio))
        throw new Error(
          `${pdf.name}: pdftotext ${direct.failed ?? 'ok'}, bsubio ${viaBsubio.failed ?? 'ok'}`,
        );
      if (Buffer.isBuffer(direct) && !direct.equals(viaBsubio))
        throw new Error(`pdf/extract output differs from pdftotext for ${pdf.name}`);
      if (!Buffer.isBuffer(direct))
        console.log(`  ${pdf.name}: fails both ways (bsubio: ${viaBsubio.failed})`);
    }
    const directMs = [];
    const sandboxMs = [];
    const bsubioMs = [];
    // CPU totals over all rounds, per side: where the time of the ratio goes.
    const cpu = { direct: [], sandbox: [], bsubio: [] };
    const pid = server.child.pid;
    for (let round = 0; round < ROUNDS; round++) {
      const direct = await cpuOf(pid, () => timedPool(pdfs, PARALLEL, (pdf) => pdftotext(pdf.path)));
      const sandbox = await cpuOf(pid, () =>
        timedPool(pdfs, PARALLEL, (pdf) => pdftotextInSandbox(pdf.path)),
      );
      const bsubio = await cpuOf(pid, () =>
        timedPool(pdfs, PARALLEL, (pdf) => job(server, 'pdf/extract', pdf.bytes)),
      );
      directMs.push(direct.wallMs);
      sandboxMs.push(sandbox.wallMs);
      bsubioMs.push(bsubio.wallMs);
      cpu.direct.push(direct);
      cpu.sandbox.push(sandbox);
      cpu.bsubio.push(bsubio);
      console.log(
        `  round ${round + 1}: pdftotext direct ${directMs.at(-1).toFixed(0)} ms, in the sandbox ${sandboxMs.at(-1).toFixed(0)} ms, via bsubio ${bsubioMs.at(-1).toFixed(0)} ms`,
      );
    }
    // Machine CPU per PDF, median over rounds: on 2 cores kept busy by the
    // tool, every millisecond the service adds per job is wall time too.
    const perPdf = (side, key) => median(cpu[side].map((r) => r[key] / pdfs.length));
    const cpuDirect = perPdf('direct', 'machineMs');
    const cpuSandbox = perPdf('sandbox', 'machineMs');
    const cpuBsubio = perPdf('bsubio', 'machineMs');
    console.log(
      `  CPU per PDF (whole machine, median of rounds): direct ${cpuDirect.toFixed(1)} ms, in the sandbox ${cpuSandbox.toFixed(1)} ms, via bsubio ${cpuBsubio.toFixed(1)} ms; ` +
        `of bsubio's, the server process ${perPdf('bsubio', 'serverMs').toFixed(1)} ms and this bench's HTTP client ${perPdf('bsubio', 'clientMs').toFixed(1)} ms ` +
        `(the direct sides' spawning: ${perPdf('direct', 'clientMs').toFixed(1)} and ${perPdf('sandbox', 'clientMs').toFixed(1)} ms); ` +
        `a ratio of 1.10 allows ${(cpuDirect * 0.1).toFixed(1)} ms over direct`,
    );
    report({
      item: 5,
      // The same words every run, so that --repeat takes the median of this row; the split is printed above.
      what: 'processing, for reference: machine CPU per PDF through pdf/extract vs pdftotext',
      unit: 'ms',
      better: 'lower',
      ours: cpuBsubio,
      peer: cpuDirect,
      peerName: `pdftotext -layout run directly (busy time of /proc/stat per PDF, median of ${ROUNDS} rounds)`,
    });
    const d = median(directMs);
    const sb = median(sandboxMs);
    const b = median(bsubioMs);
    const ratio = b / d;
    console.log(
      `pdf/extract: ${pdfs.length} PDFs, parallelism ${PARALLEL}, median of ${ROUNDS}: ` +
        `pdftotext direct ${d.toFixed(0)} ms, via bsubio ${b.toFixed(0)} ms, overhead ratio ${ratio.toFixed(3)} (target <= 1.10)`,
    );
    report({
      item: 5,
      what: `processing: ${pdfs.length} PDFs through pdf/extract vs pdftotext, ${PARALLEL} at a time`,
      unit: 'ms',
      better: 'lower',
      ours: b,
      peer: d,
      peerName: `pdftotext -layout run directly (median wall time of ${ROUNDS} rounds)`,
    });
    report({
      item: 5,
      what: `processing, for reference: the same through pdf/extract vs pdftotext in the same sandbox, ${PARALLEL} at a time`,
      unit: 'ms',
      better: 'lower',
      ours: b,
      peer: sb,
      peerName: `prlimit + bwrap + pdftotext spawned directly (median wall time of ${ROUNDS} rounds)`,
    });
    if (ratio > 1.1) failed = true;
  }

  // 3. The result cache: submit → finished of a cached pdf/extract versus a run.
  if (existsSync(corpus)) await cachedVersusRun(server);
  else report({ item: 5, what: 'result cache: pdf/extract submit to finished', skipped: 'no corpus' });

  // 2. Fixed overhead of one passthru job, sequential.
  const input = Buffer.from('hello, bsubio\n');
  for (let i = 0; i < 10; i++) await job(server, 'passthru', input); // warm-up
  const times = [];
  for (let i = 0; i < PASSTHRU_JOBS; i++) {
    const t = performance.now();
    await job(server, 'passthru', input);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(
    `passthru: ${PASSTHRU_JOBS} sequential jobs, create to finished: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms`,
  );
} finally {
  await server.stop();
}
process.exit(failed ? 1 : 0);
