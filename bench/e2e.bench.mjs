// 4. End to end, and the fixed cost of a job.
//
// Throughput and latency: 32 concurrent SDK clients (BsubClient.processFile:
// create, upload, submit, wait, output and logs), jobs per second, p50 and
// p99 from create to output.
// - 1 KB `test/linecount` (awk in the sandbox) against the same sandbox
//   command spawned directly, 32 at a time: prlimit + bwrap + awk on the
//   file, as buildSandboxCommand builds it for the job. The ratio is what
//   the service adds around the sandbox (queue, HTTP, storage, cgroup).
// - 1 KB passthru (no tool, no sandbox: the input is the output) against
//   bare `cat` spawned directly, for reference.
// Fixed cost: sequential jobs, create to finished (create, upload, submit,
// `?wait`), p50, against the sandbox's own start-and-exit (bwrap around
// `true`, then around the job's awk) measured in the same run, plus 3 ms.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BsubClient } from 'bsubio';
import { buildSandboxCommand, Catalog } from '../packages/worker/dist/index.js';
import { loadedJob, percentile, report, startBenchServer, submitAndWait } from './support.mjs';

const CLIENTS = 32;
const JOBS = Number(process.env.BENCH_E2E_JOBS ?? 320);
const SEQUENTIAL = Number(process.env.BENCH_E2E_SEQUENTIAL ?? 40);
const input = new Uint8Array(1024).fill(0x61);
// 1 KB of text lines for test/linecount (awk counts 64 lines).
const lines = new TextEncoder().encode(`${'a'.repeat(15)}\n`.repeat(64));

async function pool(fn, clients = CLIENTS, jobs = JOBS) {
  const times = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next++ < jobs) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: jobs / seconds, p50: percentile(times, 50), p99: percentile(times, 99) };
}

function run(argv, stdin, stdoutPath) {
  return new Promise((resolveRun, reject) => {
    const out = stdoutPath ? openSync(stdoutPath, 'w') : 'pipe';
    const child = spawn(argv[0], argv.slice(1), { stdio: [stdin ? 'pipe' : 'ignore', out, 'ignore'] });
    if (typeof out === 'number') closeSync(out);
    let n = 0;
    child.stdout?.on('data', (d) => {
      n += d.length;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolveRun(n) : reject(new Error(`${argv.join(' ')}: exit ${code}`)),
    );
    if (stdin) child.stdin.end(stdin);
  });
}

async function cat() {
  const n = await run(['cat'], input);
  if (n !== input.length) throw new Error(`cat gave ${n} bytes`);
}

// The sandbox around the job's own command, as the worker builds it (without
// the job's cgroup and seccomp filter, which the server adds).
const scratch = mkdtempSync(join(tmpdir(), 'bsubio-bench-e2e-'));
const linecount = Catalog.load().resolve('test/linecount').definition;
const inputFile = join(scratch, 'input.txt');
writeFileSync(inputFile, lines);
const sandboxed = (argv) =>
  buildSandboxCommand({
    argv,
    limits: linecount.limits,
    readOnly: [{ host: inputFile, sandbox: '/in/input.txt' }],
  });
const awkInSandbox = sandboxed(['awk', 'END { print NR }', '/in/input.txt']);
const trueInSandbox = sandboxed(['true']);
let outputs = 0;
const sandboxAwk = () => run(awkInSandbox, undefined, join(scratch, `out-${outputs++ % CLIENTS}`));

// As many worker slots as clients: the peer runs 32 sandboxes at once, so
// the server may too; the line then compares what is around the sandboxes.
const server = await startBenchServer({ BSUBIO_WORKERS: String(CLIENTS) });
try {
  const clients = Array.from(
    { length: CLIENTS },
    () => new BsubClient({ apiKey: server.key, baseUrl: server.url }),
  );
  let turn = 0;
  const processOnce = (type, bytes, expect) => async () => {
    const { job, output } = await clients[turn++ % CLIENTS].processFile(type, bytes);
    if (job.status !== 'finished' || !expect(output)) throw new Error(`job ${job.id}: ${job.status}`);
  };
  const passthru = processOnce('passthru', input, (out) => out.length === input.length);
  const counted = processOnce(
    'test/linecount',
    lines,
    (out) => new TextDecoder().decode(out).trim() === '64',
  );
  for (let i = 0; i < 4; i++) {
    await passthru();
    await counted();
    await sandboxAwk();
  } // warm-up

  // Throughput and latency, 32 at a time.
  const oursSandboxed = await pool(counted);
  const peerSandboxed = await pool(sandboxAwk);
  const oursPassthru = await pool(passthru);
  const peerCat = await pool(cat);
  const sandboxPeer = `prlimit + bwrap + awk spawned directly, ${CLIENTS} at a time`;
  const what = `end to end, 1 KB test/linecount (sandboxed awk), ${CLIENTS} SDK clients`;
  report({
    item: 4,
    what: `${what}: throughput`,
    unit: 'jobs/s',
    better: 'higher',
    ours: oursSandboxed.rate,
    peer: peerSandboxed.rate,
    peerName: sandboxPeer,
  });
  report({
    item: 4,
    what: `${what}: p50`,
    unit: 'ms',
    better: 'lower',
    ours: oursSandboxed.p50,
    peer: peerSandboxed.p50,
    peerName: sandboxPeer,
  });
  report({
    item: 4,
    what: `${what}: p99`,
    unit: 'ms',
    better: 'lower',
    ours: oursSandboxed.p99,
    peer: peerSandboxed.p99,
    peerName: sandboxPeer,
  });
  const catPeer = `\`cat\` spawned directly, ${CLIENTS} at a time (reference)`;
  const whatPassthru = `end to end, 1 KB passthru (no sandbox), ${CLIENTS} SDK clients`;
  report({
    item: 4,
    what: `${whatPassthru}: throughput`,
    unit: 'jobs/s',
    better: 'higher',
    ours: oursPassthru.rate,
    peer: peerCat.rate,
    peerName: catPeer,
  });
  report({
    item: 4,
    what: `${whatPassthru}: p50`,
    unit: 'ms',
    better: 'lower',
    ours: oursPassthru.p50,
    peer: peerCat.p50,
    peerName: catPeer,
  });

  // Fixed cost: one job at a time, interleaved with the sandbox alone.
  const createToFinished = async (type, bytes) => {
    const t = performance.now();
    const job = await submitAndWait(server, await loadedJob(server, type, bytes));
    if (job.status !== 'finished') throw new Error(`job ${job.id}: ${job.status}`);
    return performance.now() - t;
  };
  const timed = async (fn) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const seq = { passthru: [], linecount: [], bwrapTrue: [], bwrapAwk: [] };
  for (let i = 0; i < SEQUENTIAL; i++) {
    seq.passthru.push(await createToFinished('passthru', input));
    seq.bwrapTrue.push(await timed(() => run(trueInSandbox)));
    seq.linecount.push(await createToFinished('test/linecount', lines));
    seq.bwrapAwk.push(await timed(sandboxAwk));
  }
  const p50 = (list) => percentile(list, 50);
  report({
    item: 4,
    what: 'fixed cost: passthru create → finished p50, sequential, vs the sandbox around `true` + 3 ms',
    unit: 'ms',
    better: 'lower',
    ours: p50(seq.passthru),
    peer: p50(seq.bwrapTrue) + 3,
    peerName: `bwrap around \`true\` (p50 ${p50(seq.bwrapTrue).toFixed(1)} ms) + 3 ms`,
  });
  report({
    item: 4,
    what: 'fixed cost: test/linecount create → finished p50, sequential, vs its sandboxed awk alone + 3 ms',
    unit: 'ms',
    better: 'lower',
    ours: p50(seq.linecount),
    peer: p50(seq.bwrapAwk) + 3,
    peerName: `prlimit + bwrap + awk (p50 ${p50(seq.bwrapAwk).toFixed(1)} ms) + 3 ms`,
  });
} finally {
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
