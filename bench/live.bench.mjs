// Live results: from submit to the client learning `finished`, for a
// passthru job, three ways: `GET /v1/jobs/{id}?wait=60`, the event stream
// (`/v1/jobs/{id}/events`, opened before submit), and bsub.io's clients'
// 2-second polling. Each figure is p50 / p99 over sequential jobs; "notify"
// is the part after the server recorded the job finished (finished_at →
// client knows), i.e. what the waiting mechanism itself costs.
import { loadedJob, percentile, startBenchServer } from './support.mjs';

const JOBS = Number(process.env.BENCH_LIVE_JOBS ?? 100);
const POLL_JOBS = Number(process.env.BENCH_POLL_JOBS ?? 10);

const server = await startBenchServer({ BSUBIO_WORKERS: '2' });
const auth = { authorization: `Bearer ${server.key}` };

const loadedPassthru = () => loadedJob(server, 'passthru', 'hello, live results\n');

async function submit(id) {
  const res = await fetch(`${server.url}/v1/jobs/${id}/submit`, { method: 'POST', headers: auth });
  await res.arrayBuffer();
}

async function viaWait(id) {
  const t0 = performance.now();
  const w0 = Date.now();
  await submit(id);
  const job = (await fetch(`${server.url}/v1/jobs/${id}?wait=60`, { headers: auth }).then((r) => r.json()))
    .data;
  const t1 = performance.now();
  if (job.status !== 'finished') throw new Error(`job ${id} is ${job.status}`);
  return { total: t1 - t0, notify: w0 + (t1 - t0) - Date.parse(job.finished_at) };
}

async function viaEvents(id) {
  const res = await fetch(`${server.url}/v1/jobs/${id}/events`, { headers: auth });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const nextStatus = async () => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!block.includes('event: status')) continue;
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        return JSON.parse(data.slice(6));
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended early');
      buffer += decoder.decode(value, { stream: true });
    }
  };
  await nextStatus(); // loaded: the stream is open
  const t0 = performance.now();
  const w0 = Date.now();
  await submit(id);
  let job;
  do job = await nextStatus();
  while (job.status !== 'finished' && job.status !== 'failed');
  const t1 = performance.now();
  await reader.cancel();
  if (job.status !== 'finished') throw new Error(`job ${id} is ${job.status}`);
  return { total: t1 - t0, notify: w0 + (t1 - t0) - Date.parse(job.finished_at) };
}

async function viaPolling(id) {
  const t0 = performance.now();
  const w0 = Date.now();
  await submit(id);
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    const job = (await fetch(`${server.url}/v1/jobs/${id}`, { headers: auth }).then((r) => r.json())).data;
    if (job.status === 'finished') {
      const t1 = performance.now();
      return { total: t1 - t0, notify: w0 + (t1 - t0) - Date.parse(job.finished_at) };
    }
  }
}

const fmt = (ms) => `${ms.toFixed(1)} ms`;

function report(name, samples) {
  const totals = samples.map((s) => s.total);
  const notifies = samples.map((s) => s.notify);
  console.log(
    `${name.padEnd(22)} n=${String(samples.length).padEnd(4)} submit→known p50 ${fmt(percentile(totals, 50)).padStart(10)}  p99 ${fmt(percentile(totals, 99)).padStart(10)}   notify p50 ${fmt(percentile(notifies, 50)).padStart(9)}  p99 ${fmt(percentile(notifies, 99)).padStart(9)}`,
  );
}

try {
  // Warm-up: the first jobs pay for JIT and the first sandbox start.
  for (let i = 0; i < 5; i++) await viaWait(await loadedPassthru());

  const wait = [];
  const events = [];
  // Interleaved, so that background load affects both alike.
  for (let i = 0; i < JOBS; i++) {
    wait.push(await viaWait(await loadedPassthru()));
    events.push(await viaEvents(await loadedPassthru()));
  }
  const ids = [];
  for (let i = 0; i < POLL_JOBS; i++) ids.push(await loadedPassthru());
  const polling = await Promise.all(ids.map((id) => viaPolling(id)));

  console.log(`passthru, 20 bytes, ${JOBS} jobs per live method, sequential; 2 workers`);
  report('GET ?wait=60', wait);
  report('GET /events (SSE)', events);
  report('2 s polling', polling);
} finally {
  await server.stop();
}
