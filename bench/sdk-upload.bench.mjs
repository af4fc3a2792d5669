// How much memory the SDK's client process uses to upload 1 GiB.
//
// Starts a real bsubio server (no workers: only the upload is measured) and
// uploads, through `JobsApi.uploadJobData`, (1) a 1 GiB sparse file by path
// (known size: a Content-Length multipart stream) and (2) 1 GiB generated on
// the fly by an async iterable (unknown size: chunked). This process is the
// client; its RSS is sampled every 20 ms and the peak growth over the
// baseline (taken after a small warm-up upload) is reported. Streaming means
// the growth stays a few MiB however large the file is.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Configuration, JobsApi } from 'bsubio';
import { startBenchServer } from './support.mjs';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = Number(process.env.BENCH_UPLOAD_BYTES ?? GiB);

const work = mkdtempSync(join(tmpdir(), 'bsubio-sdk-bench-'));
const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Run `fn` while sampling RSS; returns its result and the peak RSS seen. */
async function sampled(fn) {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

/** A fresh buffer per chunk, so that anything holding on to sent chunks shows in RSS. */
async function* generated(total) {
  for (let sent = 0; sent < total; sent += MiB) {
    yield new Uint8Array(Math.min(MiB, total - sent)).fill(0x61);
  }
}

const server = await startBenchServer({ BSUBIO_WORKERS: '0', BSUBIO_MAX_UPLOAD_BYTES: String(SIZE * 2) });
try {
  const jobs = new JobsApi(new Configuration({ host: server.url, accessToken: server.key }));
  const upload = async (input) => {
    const { data: job } = await jobs.createJob({ type: 'passthru' });
    return jobs.uploadJobData(job.id, job.upload_token, input);
  };

  // Warm up (JIT, connection pool, first fetch), then settle the heap.
  const small = join(work, 'small.bin');
  writeFileSync(small, new Uint8Array(4 * MiB));
  await upload(small);
  await upload(generated(4 * MiB));
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 200));

  const sparse = join(work, 'upload.bin');
  writeFileSync(sparse, '');
  truncateSync(sparse, SIZE);

  const rows = [];
  for (const [label, input] of [
    [`sparse file by path, ${mib(SIZE)}`, () => sparse],
    [`generated stream, ${mib(SIZE)}`, () => generated(SIZE)],
  ]) {
    globalThis.gc?.();
    const baseline = process.memoryUsage.rss();
    const started = performance.now();
    const { result, peak } = await sampled(() => upload(input()));
    const seconds = (performance.now() - started) / 1000;
    if (result.data_size !== SIZE) throw new Error(`uploaded ${result.data_size} bytes, expected ${SIZE}`);
    rows.push({ label, baseline, growth: peak - baseline, seconds });
  }

  console.log(`SDK upload through JobsApi.uploadJobData (multipart, streamed); client process RSS:`);
  for (const row of rows) {
    console.log(
      `  ${row.label.padEnd(34)} baseline ${mib(row.baseline).padStart(10)}, peak growth ${mib(row.growth).padStart(9)}, ` +
        `${row.seconds.toFixed(1)} s (${mib(SIZE / row.seconds)}/s)`,
    );
  }
  const worst = Math.max(...rows.map((r) => r.growth));
  const budget = 64 * MiB;
  console.log(
    `  worst growth ${mib(worst)} (budget ${mib(budget)}): ${worst <= budget ? 'ok' : 'OVER BUDGET'}`,
  );
  if (worst > budget) process.exitCode = 1;
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
