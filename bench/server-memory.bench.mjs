// Server memory while a 1 GiB file goes up (multipart, as the official
// clients send it) and comes back down: the growth of the server's RSS over
// its idle baseline must stay under 64 MiB. Also reports throughput next to
// `cat` writing the same amount to the same disk.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { report, startBenchServer } from './support.mjs';

// BENCH_BYTES picks another size for a quick look; the target is for 1 GiB.
const GiB = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const LIMIT_MIB = 64;
const server = await startBenchServer({ BSUBIO_WORKERS: '1', BSUBIO_MAX_UPLOAD_BYTES: String(2 * GiB) });
const { url, key, dataDir } = server;
const auth = { authorization: `Bearer ${key}` };

const rssMiB = () => {
  const status = readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
};
/** CPU seconds (user + system) the server has used: a measure that a busy machine blurs less than wall time. */
const cpuSeconds = () => {
  const fields = readFileSync(`/proc/${server.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, rssMiB());
}, 20);

async function job(type) {
  const res = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ type }),
  });
  return (await res.json()).data;
}

/** GET `url` on a raw socket and resolve with the body's length (Content-Length framing, status 200). */
function rawGetBodyLength(url, headers) {
  const { hostname, port, pathname } = new URL(url);
  const request = [`GET ${pathname} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close']
    .concat(Object.entries(headers).map(([k, v]) => `${k}: ${v}`))
    .join('\r\n');
  return new Promise((resolveGet, reject) => {
    let head = '';
    let length = -1;
    let body = 0;
    const socket = connect({
      host: hostname,
      port: Number(port),
      onread: {
        buffer: Buffer.alloc(1024 * 1024),
        callback(n, buf) {
          if (length < 0) {
            head += buf.toString('latin1', 0, n);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(head.slice(0, end)));
            length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
            body = head.length - end - 4;
          } else {
            body += n;
          }
          if (body >= length) {
            socket.destroy();
            resolveGet(body);
          }
        },
      },
    });
    socket.on('error', reject);
    // A connection that ends before the whole body is a failed download, not a wait for ever.
    socket.on('close', () => reject(new Error(`the download ended after ${body} of ${length} body bytes`)));
    socket.write(`${request}\r\n\r\n`);
  });
}

/** A multipart body of `size` bytes of file content, generated as it is sent. */
function multipartStream(size) {
  const boundary = 'bsubio-bench-boundary';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(1024 * 1024, 97);
  let sent = 0;
  let stage = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (stage === 0) {
        stage = 1;
        return controller.enqueue(new Uint8Array(head));
      }
      if (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        // A view, not a copy: copying 1 GiB through the typed-array
        // constructor cost this client 5 CPU-seconds, which made the
        // load generator, not the server, the bottleneck.
        return controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, n));
      }
      if (stage === 1) {
        stage = 2;
        controller.enqueue(new Uint8Array(tail));
        return controller.close();
      }
    },
  });
  return {
    stream,
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: head.length + size + tail.length,
  };
}

// Warm up with a small job so that the baseline includes the code paths.
const warm = await job('passthru');
{
  const form = new FormData();
  form.append('file', new Blob(['warm']), 'warm.txt');
  await fetch(`${url}/v1/upload/${warm.id}?token=${warm.upload_token}`, { method: 'POST', body: form });
}
await new Promise((r) => setTimeout(r, 500));
const baseline = rssMiB();
peak = baseline;

const big = await job('passthru');
const body = multipartStream(GiB);
let t = performance.now();
const cpuBefore = cpuSeconds();
const up = await fetch(`${url}/v1/upload/${big.id}?token=${big.upload_token}`, {
  method: 'POST',
  headers: { 'content-type': body.contentType, 'content-length': String(body.length) },
  body: body.stream,
  duplex: 'half',
});
const uploadSeconds = (performance.now() - t) / 1000;
const uploadCpu = cpuSeconds() - cpuBefore;
const uploaded = await up.json();
if (uploaded.data_size !== GiB) throw new Error(`upload stored ${uploaded.data_size} bytes`);
const uploadPeak = peak;

await fetch(`${url}/v1/jobs/${big.id}/submit`, { method: 'POST', headers: auth });
for (;;) {
  const got = await (await fetch(`${url}/v1/jobs/${big.id}?wait=60`, { headers: auth })).json();
  if (got.data.status === 'finished') break;
  if (got.data.status === 'failed') throw new Error(got.data.error_message);
}

t = performance.now();
// The client reads like `curl -o /dev/null`: a plain GET on a socket that
// reads into one reused buffer and counts the body. fetch (undici's web
// streams) and even node:http cost the client 2.4-2.6 CPU-seconds per GiB,
// a fresh buffer per read and the collections after them, against the
// server's 0.4-0.7: they measured the client.
const received = await rawGetBodyLength(`${url}/v1/jobs/${big.id}/output`, auth);
const downloadSeconds = (performance.now() - t) / 1000;
if (received !== GiB) throw new Error(`downloaded ${received} bytes`);
clearInterval(sampler);

// The peer: cat writing 1 GiB to the same disk.
const catFile = join(dataDir, 'cat.bin');
t = performance.now();
spawnSync('sh', ['-c', `head -c ${GiB} /dev/zero | cat > "${catFile}" && sync "${catFile}"`]);
const catSeconds = (performance.now() - t) / 1000;

await server.stop();

const growth = peak - baseline;
const sizeMiB = GiB / 1024 ** 2;
const mibps = (s) => (sizeMiB / s).toFixed(0);
console.log(`server RSS baseline ${baseline.toFixed(1)} MiB`);
console.log(
  `${sizeMiB} MiB multipart upload: ${uploadSeconds.toFixed(1)} s (${mibps(uploadSeconds)} MiB/s), peak RSS growth ${(uploadPeak - baseline).toFixed(1)} MiB`,
);
console.log(
  `server CPU during the upload: ${uploadCpu.toFixed(1)} s (${mibps(uploadCpu)} MiB per CPU-second)`,
);
console.log(
  `${sizeMiB} MiB download:         ${downloadSeconds.toFixed(1)} s (${mibps(downloadSeconds)} MiB/s)`,
);
console.log(`cat to the same disk:   ${catSeconds.toFixed(1)} s (${mibps(catSeconds)} MiB/s)`);
console.log(
  `peak RSS growth over upload, processing and download: ${growth.toFixed(1)} MiB (limit ${LIMIT_MIB} MiB)`,
);
const peerName = `cat writing ${sizeMiB} MiB to the same disk (then sync)`;
const catRate = sizeMiB / catSeconds;
report({
  item: 3,
  what: `files: ${sizeMiB} MiB multipart upload`,
  unit: 'MiB/s',
  better: 'higher',
  ours: sizeMiB / uploadSeconds,
  peer: catRate,
  peerName,
});
report({
  item: 3,
  what: `files: ${sizeMiB} MiB download`,
  unit: 'MiB/s',
  better: 'higher',
  ours: sizeMiB / downloadSeconds,
  peer: catRate,
  peerName,
});
report({
  item: 3,
  what: 'files: server RSS growth over upload, processing, download',
  unit: 'MiB',
  better: 'lower',
  ours: growth,
  peer: LIMIT_MIB,
  peerName: 'our budget (no peer: the limit the server must stay under)',
});
if (growth >= LIMIT_MIB) {
  console.log('FAIL: server memory grew past the limit');
  process.exit(1);
}
