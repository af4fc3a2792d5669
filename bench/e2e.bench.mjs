// 4. End to end: 32 concurrent SDK clients (BsubClient.processFile: create,
// upload, submit, wait, output and logs) of a 1 KB passthru job; jobs per
// second, p50 and p99 from create to output. The peer is the tool alone: the
// same 1 KB through `cat`, spawned directly, 32 at a time: what the job costs
// without a queue, HTTP, storage or sandbox around it.
import { spawn } from 'node:child_process';
import { BsubClient } from 'bsubio';
import { percentile, report, startBenchServer } from './support.mjs';

const CLIENTS = 32;
const JOBS = Number(process.env.BENCH_E2E_JOBS ?? 320);
const input = new Uint8Array(1024).fill(0x61);

async function pool(fn) {
  const times = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next++ < JOBS) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: JOBS / seconds, p50: percentile(times, 50), p99: percentile(times, 99) };
}

function cat() {
  return new Promise((resolveCat, reject) => {
    const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    let n = 0;
    child.stdout.on('data', (d) => {
      n += d.length;
    });
    child.once('error', reject);
    child.once('close', () => (n === input.length ? resolveCat() : reject(new Error(`cat gave ${n} bytes`))));
    child.stdin.end(input);
  });
}

const server = await startBenchServer({});
try {
  const clients = Array.from(
    { length: CLIENTS },
    () => new BsubClient({ apiKey: server.key, baseUrl: server.url }),
  );
  let turn = 0;
  const once = async () => {
    const { job, output } = await clients[turn++ % CLIENTS].processFile('passthru', input);
    if (job.status !== 'finished' || output.length !== input.length)
      throw new Error(`job ${job.id}: ${job.status}`);
  };
  for (let i = 0; i < 4; i++) await once(); // warm-up
  const ours = await pool(once);
  const peer = await pool(cat);
  const peerName = `\`cat\` spawned directly, ${CLIENTS} at a time`;
  const what = `end to end, 1 KB passthru, ${CLIENTS} SDK clients`;
  report({
    item: 4,
    what: `${what}: throughput`,
    unit: 'jobs/s',
    better: 'higher',
    ours: ours.rate,
    peer: peer.rate,
    peerName,
  });
  report({
    item: 4,
    what: `${what}: p50`,
    unit: 'ms',
    better: 'lower',
    ours: ours.p50,
    peer: peer.p50,
    peerName,
  });
  report({
    item: 4,
    what: `${what}: p99`,
    unit: 'ms',
    better: 'lower',
    ours: ours.p99,
    peer: peer.p99,
    peerName,
  });
} finally {
  await server.stop();
}
