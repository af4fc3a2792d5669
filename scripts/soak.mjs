#!/usr/bin/env node
/**
 * The soak: a server of its own under mixed load for a long time (default 30
 * minutes), to show that memory and open files stay flat and that no job is
 * lost. Each simulated client job is create → upload → submit → wait →
 * (read output) → delete, started at a target rate (default 50 jobs/s); a
 * share of them fail on purpose (json_format on input that is not JSON) and a
 * share are cancelled while queued or running.
 *
 *   npm run soak                      # 30 minutes
 *   npm run soak -- --minutes 5
 *   BSUBIO_SOAK_SECONDS=60 npm run soak
 *   node scripts/soak.mjs --seconds 60 --rate 20 --json
 *
 * While it runs, the server's resident memory and open file descriptors
 * (/proc/<pid>/status, /proc/<pid>/fd) are sampled every second. At the end:
 * every created job was seen terminal and deleted, the server lists none and
 * keeps no blob or temporary file; after warm-up, the medians of the last
 * quarter of descriptor samples are within bounds of those of the first
 * quarter; and the server's memory, settled, is within bounds of what it was
 * at the end of warm-up. Exit code 0 when all hold, 1 otherwise; the numbers
 * go to stdout.
 *
 * Settled memory is measured after a full garbage collection, asked of the
 * server through its inspector (on a loopback port of its own). Raw RSS
 * says little about leaks: V8 collects its old generation lazily, and under
 * this load the server's RSS climbs by 100 MiB and more of garbage before
 * its first full collection, while what is live stays at about 35 MiB (heap
 * snapshots at 1 and 4 minutes). Comparing raw RSS medians failed one
 * minute's run now and then on that climb alone. RSS is still sampled and
 * reported, and its settled value is bounded.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVER_BIN = join(ROOT, 'packages', 'server', 'bin', 'bsubio-server.js');

/** Defaults; every one can be overridden by soak() options. */
export const DEFAULTS = {
  seconds: 30 * 60,
  /** Jobs started per second. */
  rate: 50,
  /** Client jobs in flight at most: past it, starts wait (the achieved rate says so). */
  maxInFlight: 100,
  /** Share of jobs that fail on purpose, and that are cancelled. */
  failShare: 0.1,
  cancelShare: 0.05,
  /** Samples in the first part of the run that are warm-up, not baseline. */
  warmupShare: 0.2,
  /**
   * Allowed growth of settled memory (after a full collection), end of the
   * run over end of warm-up, the larger of these: for the JavaScript heap
   * in use plus memory outside it (Buffers), and for RSS, which also holds
   * what V8 and malloc keep for reuse.
   */
  heapGrowthRatio: 0.25,
  heapGrowthMb: 16,
  rssGrowthRatio: 0.25,
  rssGrowthMb: 40,
  /**
   * Allowed growth of the median of open descriptors other than sockets
   * (files, pipes, eventfds): sockets follow the clients in flight, which
   * is load, not a leak; they are reported, and bounded by maxInFlight.
   */
  fdGrowth: 16,
  workers: 2,
  log: (line) => process.stderr.write(`${line}\n`),
};

const median = (values) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fds = readdirSync(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {}
  }
  return { rssMb: rssKb / 1024, fds: fds.length, sockets, files: fds.length - sockets };
}

const MiB = 1024 * 1024;

/**
 * The server's memory after a full garbage collection, asked of it through
 * its inspector: the JavaScript heap in use plus the memory V8 accounts
 * outside it (Buffers), and RSS (which also holds what V8 and malloc keep
 * for reuse).
 */
async function settledMemory(inspectorUrl, pid) {
  if (!inspectorUrl) throw new Error('the server printed no inspector address');
  const socket = new WebSocket(inspectorUrl);
  const answers = new Map();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data));
    answers.get(message.id)?.(message);
    answers.delete(message.id);
  });
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', () => reject(new Error(`inspector ${inspectorUrl}: cannot connect`)), {
      once: true,
    });
  });
  // An inspector that goes away or stops answering fails the measurement, never hangs it.
  const failAll = (why) => {
    for (const answer of answers.values()) answer({ error: { message: why } });
    answers.clear();
  };
  socket.addEventListener('close', () => failAll('the inspector closed the connection'));
  const timer = setTimeout(() => {
    failAll('the inspector did not answer in 120 s');
    socket.close();
  }, 120_000);
  let lastId = 0;
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++lastId;
      answers.set(id, (m) =>
        m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result),
      );
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    await send('HeapProfiler.collectGarbage');
    const { result } = await send('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    });
    const usage = JSON.parse(result.value);
    return {
      heapMb: Number(((usage.heapUsed + usage.external) / MiB).toFixed(1)),
      rssMb: Number(procStats(pid).rssMb.toFixed(1)),
    };
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

async function startServer(workers) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bsubio-soak-data-'));
  const home = mkdtempSync(join(tmpdir(), 'bsubio-soak-home-'));
  // The inspector, on a loopback port of its own, is how the soak asks for a
  // full collection before it measures memory (settledMemory).
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', SERVER_BIN, '--port', '0'], {
    env: {
      ...process.env,
      HOME: home,
      BSUBIO_DATA_DIR: dataDir,
      BSUBIO_LOG_LEVEL: 'warn',
      BSUBIO_WORKERS: String(workers),
      BSUBIO_RATE_LIMIT: '0',
      BSUBIO_MAX_ACTIVE_JOBS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let inspectorUrl = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
    inspectorUrl ||= /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1] ?? '';
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const url = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 120_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /Listening: (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  let apiKey = '';
  for (const path of [join(home, '.config', 'bsubio', 'config.json'), join(dataDir, 'local-api-key.json')]) {
    try {
      apiKey = JSON.parse(readFileSync(path, 'utf8')).api_key;
      break;
    } catch {}
  }
  return {
    url,
    apiKey,
    dataDir,
    pid: child.pid,
    stderr: () => stderr,
    inspectorUrl: () => inspectorUrl,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Run the soak; resolves with its numbers and `ok` (all invariants hold). */
export async function soak(options = {}) {
  const o = { ...DEFAULTS, ...options };
  const server = await startServer(o.workers);
  const auth = { authorization: `Bearer ${server.apiKey}` };
  const counts = {
    started: 0,
    created: 0,
    uploaded: 0,
    submitted: 0,
    finished: 0,
    failed: 0,
    cancelled: 0,
    deleted: 0,
    unexpected: 0,
    retried503: 0,
    retriedNetwork: 0,
  };
  const problems = [];
  const problem = (what) => {
    counts.unexpected++;
    if (problems.length < 20) {
      problems.push(what);
      o.log(`soak: unexpected: ${what}`);
    }
  };

  /**
   * fetch, retrying a 503 (store busy) the way a client following Retry-After
   * would, and a connection that failed under a request that is safe to
   * repeat (GET, DELETE), as the SDK does; other failures name their cause.
   */
  async function call(path, init = {}, expectStatus = []) {
    const method = init.method ?? 'GET';
    const repeatable = method === 'GET' || method === 'DELETE';
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await fetch(`${server.url}${path}`, {
          ...init,
          headers: { ...auth, ...init.headers },
          signal: AbortSignal.timeout(120_000),
        });
      } catch (err) {
        const cause = err.cause?.code ?? err.cause?.message ?? err.message;
        if (repeatable && attempt < 3) {
          counts.retriedNetwork++;
          o.log(`soak: ${method} ${path.split('?')[0]} failed (${cause}); retrying`);
          continue;
        }
        throw new Error(`${method} ${path.split('?')[0]}: ${err.message} (${cause})`);
      }
      if (res.status === 503 && attempt < 5) {
        counts.retried503++;
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
        continue;
      }
      if (expectStatus.length && !expectStatus.includes(res.status)) {
        throw new Error(
          `${init.method ?? 'GET'} ${path.split('?')[0]} answered ${res.status}: ${await res.text()}`,
        );
      }
      return res;
    }
  }

  const ids = new Set(); // created, not yet deleted
  async function oneJob(n) {
    const kind = n % 20 < o.failShare * 20 ? 'fail' : n % 20 >= 20 - o.cancelShare * 20 ? 'cancel' : 'ok';
    const type = kind === 'fail' ? 'json_format' : 'passthru';
    const content = kind === 'fail' ? `this is not JSON ${n}` : `soak job ${n} ${'x'.repeat(n % 2000)}`;
    let id;
    try {
      const created = await (
        await call(
          '/v1/jobs',
          { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type }) },
          [201],
        )
      ).json();
      id = created.data.id;
      ids.add(id);
      counts.created++;
      await call(
        `/v1/upload/${id}?token=${created.data.upload_token}`,
        { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: content },
        [200],
      );
      counts.uploaded++;
      await call(`/v1/jobs/${id}/submit`, { method: 'POST' }, [200]);
      counts.submitted++;
      if (kind === 'cancel') {
        // Cancelling may lose the race with the job's end: then it is terminal already.
        await call(`/v1/jobs/${id}/cancel`, { method: 'POST' }, [200, 400]);
      }
      let job;
      for (let i = 0; i < 30; i++) {
        job = (await (await call(`/v1/jobs/${id}?wait=10`, {}, [200])).json()).data;
        if (job.status === 'finished' || job.status === 'failed') break;
      }
      if (job.status === 'finished') {
        counts.finished++;
        if (kind === 'fail') problem(`job ${id} (${kind}) finished`);
        if (n % 10 === 0) {
          const output = await (await call(`/v1/jobs/${id}/output`, {}, [200])).text();
          if (output !== content) problem(`job ${id}: output differs from input`);
        }
      } else if (job.status === 'failed') {
        if (job.error_code === 'ECANCELED') counts.cancelled++;
        else counts.failed++;
        // Not JSON: refused before the tool runs (EINPUT) or by the tool (EEXIT).
        const expected = kind === 'fail' ? ['EINPUT', 'EEXIT'] : kind === 'cancel' ? ['ECANCELED'] : [];
        if (!expected.includes(job.error_code))
          problem(`job ${id} (${kind}) failed ${job.error_code}: ${job.error_message}`);
      } else {
        problem(`job ${id} still ${job.status} after 300 s`);
        return;
      }
      await call(`/v1/jobs/${id}`, { method: 'DELETE' }, [204]);
      ids.delete(id);
      counts.deleted++;
    } catch (err) {
      problem(`job ${id ?? `#${n}`}: ${err.message}`);
    }
  }

  const samples = [];
  const sample = () => {
    try {
      samples.push({ t: Date.now(), ...procStats(server.pid) });
    } catch {}
  };
  const started = Date.now();
  const endAt = started + o.seconds * 1000;
  sample();
  const sampler = setInterval(sample, 1000);
  const progress = setInterval(() => {
    const last = samples.at(-1);
    o.log(
      `soak: ${Math.round((Date.now() - started) / 1000)}s, ${counts.created} created, ${counts.deleted} deleted, ${inFlight.size} in flight, rss ${last?.rssMb.toFixed(1)} MB, fds ${last?.fds} (${last?.sockets} sockets), unexpected ${counts.unexpected}`,
    );
  }, 15_000);

  // Settled memory at the end of warm-up, measured while the load goes on.
  let atWarmUp = Promise.resolve(new Error('the run ended before its warm-up did'));
  const warmUpTimer = setTimeout(
    () => {
      atWarmUp = settledMemory(server.inspectorUrl(), server.pid).catch((err) => err);
    },
    o.seconds * 1000 * o.warmupShare,
  );

  // Start jobs on a schedule: job n is due at started + n / rate.
  const inFlight = new Set();
  let n = 0;
  while (Date.now() < endAt) {
    const due = started + (n * 1000) / o.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 50)));
    if (Date.now() < due) continue;
    if (inFlight.size >= o.maxInFlight) {
      await Promise.race(inFlight);
      continue;
    }
    const p = oneJob(n++).finally(() => inFlight.delete(p));
    inFlight.add(p);
    counts.started++;
  }
  const loadSeconds = (Date.now() - started) / 1000;
  await Promise.all(inFlight);
  clearInterval(sampler);
  clearInterval(progress);
  clearTimeout(warmUpTimer);
  sample();
  const settled = {
    warmedUp: await atWarmUp,
    end: await settledMemory(server.inspectorUrl(), server.pid).catch((err) => err),
  };
  for (const [when, value] of Object.entries(settled)) {
    if (value instanceof Error) problem(`memory could not be measured (${when}): ${value.message}`);
  }

  // Accounting: the server has no job left and keeps no file for one.
  const list = await (await call('/v1/jobs?limit=100', {}, [200])).json();
  const leftOnServer = list.data.total;
  const blobFiles = filesUnder(join(server.dataDir, 'blobs', 'jobs')).length;
  const tmpFiles = filesUnder(join(server.dataDir, 'tmp')).length;

  // Flatness: the first quarter after warm-up against the last quarter.
  const steady = samples.slice(Math.floor(samples.length * o.warmupShare));
  const quarter = Math.max(1, Math.floor(steady.length / 4));
  const first = steady.slice(0, quarter);
  const last = steady.slice(-quarter);
  const rss = { first: median(first.map((s) => s.rssMb)), last: median(last.map((s) => s.rssMb)) };
  const fds = { first: median(first.map((s) => s.files)), last: median(last.map((s) => s.files)) };
  const sockets = { first: median(first.map((s) => s.sockets)), last: median(last.map((s) => s.sockets)) };
  const fdBound = fds.first + o.fdGrowth;
  const measured = !(settled.warmedUp instanceof Error) && !(settled.end instanceof Error);
  const bound = (value, ratio, mb) => Number((value + Math.max(value * ratio, mb)).toFixed(1));
  const memory = measured
    ? {
        warmedUp: settled.warmedUp,
        end: settled.end,
        heapBound: bound(settled.warmedUp.heapMb, o.heapGrowthRatio, o.heapGrowthMb),
        rssBound: bound(settled.warmedUp.rssMb, o.rssGrowthRatio, o.rssGrowthMb),
      }
    : undefined;

  const checks = {
    noUnexpected: counts.unexpected === 0,
    everyJobAccounted:
      counts.created === counts.finished + counts.failed + counts.cancelled &&
      counts.created === counts.deleted &&
      ids.size === 0,
    serverEmpty: leftOnServer === 0 && blobFiles === 0 && tmpFiles === 0,
    heapFlat: measured && memory.end.heapMb <= memory.heapBound,
    rssFlat: measured && memory.end.rssMb <= memory.rssBound,
    fdsFlat: fds.last <= fdBound,
  };
  const serverAlive = (() => {
    try {
      procStats(server.pid);
      return true;
    } catch {
      return false;
    }
  })();
  checks.serverAlive = serverAlive;
  const result = {
    ok: Object.values(checks).every(Boolean),
    checks,
    seconds: Math.round(loadSeconds),
    targetRate: o.rate,
    achievedRate: Number((counts.started / loadSeconds).toFixed(1)),
    counts,
    problems,
    leftOnServer,
    blobFiles,
    tmpFiles,
    memory,
    // Raw RSS, for the record (it climbs with garbage between full collections).
    sampledRssMb: { ...rss, max: Math.max(...samples.map((s) => s.rssMb)) },
    nonSocketFds: { ...fds, bound: fdBound, max: Math.max(...samples.map((s) => s.files)) },
    sockets: { ...sockets, max: Math.max(...samples.map((s) => s.sockets)) },
    samples: samples.length,
  };
  await server.stop();
  return result;
}

async function main() {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      workers: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'Usage: node scripts/soak.mjs [--minutes M | --seconds S] [--rate JOBS_PER_SECOND] [--workers N] [--json]\n' +
        'Default: 30 minutes at 50 jobs/s (BSUBIO_SOAK_SECONDS overrides the default length).\n' +
        'Needs a build (npm run build). Exit code 1 when an invariant fails.\n',
    );
    return;
  }
  const seconds = values.seconds
    ? Number(values.seconds)
    : values.minutes
      ? Number(values.minutes) * 60
      : Number(process.env.BSUBIO_SOAK_SECONDS ?? DEFAULTS.seconds);
  const result = await soak({
    seconds,
    ...(values.rate ? { rate: Number(values.rate) } : {}),
    ...(values.workers ? { workers: Number(values.workers) } : {}),
  });
  process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    process.stderr.write(`soak: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  });
}
