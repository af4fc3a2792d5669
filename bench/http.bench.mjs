// 2. HTTP: `GET /v1/jobs/{id}` requests per second (autocannon, 10
// connections) against a bare Fastify hello-world in a process of its own on
// the same machine: the ceiling for a Node.js HTTP server here.
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { listeningUrl, report, startBenchServer } from './support.mjs';

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
const CONNECTIONS = 10;
const WARM_UP_SECONDS = 2;

function cannon(url, headers = {}, duration = SECONDS) {
  return new Promise((resolveRun, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration, headers }, (err, result) => {
      if (err) return reject(err);
      if (result.non2xx > 0 || result.errors > 0)
        return reject(new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`));
      resolveRun(result.requests.average);
    });
  });
}

const HELLO = `
  const app = (await import('fastify')).default();
  app.get('/', async () => ({ hello: 'world' }));
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  console.log('Listening: ' + address);
`;

async function startHello() {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HELLO], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await listeningUrl(child, 'fastify hello-world');
  return {
    url,
    stop: () =>
      new Promise((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', r);
        child.kill();
      }),
  };
}

// With the server's default logging: an access-log line per request.
const server = await startBenchServer({ BSUBIO_WORKERS: '0', BSUBIO_RATE_LIMIT: '0' }, { logToFile: true });
const hello = await startHello();
try {
  const auth = { authorization: `Bearer ${server.key}` };
  const created = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'passthru' }),
  }).then((r) => r.json());
  const jobUrl = `${server.url}/v1/jobs/${created.data.id}`;
  // A short warm-up of each (JIT, statement cache), then the measured runs.
  // A single request warmed up nothing: the server's first second under
  // load ran at about 40 % of its later rate while V8 compiled its hot
  // paths, a cost the tiny hello-world does not have.
  await cannon(jobUrl, auth, WARM_UP_SECONDS);
  await cannon(hello.url, {}, WARM_UP_SECONDS);
  const ours = await cannon(jobUrl, auth);
  const peer = await cannon(hello.url);
  report({
    item: 2,
    what: 'HTTP: GET /v1/jobs/{id} vs Fastify hello-world',
    unit: 'req/s',
    better: 'higher',
    ours,
    peer,
    peerName: `bare Fastify hello-world (autocannon, ${CONNECTIONS} connections, ${SECONDS} s each)`,
  });
} finally {
  await hello.stop();
  await server.stop();
}
