/**
 * Secrets: API keys, upload tokens and session cookies never reach the logs
 * (at the most verbose level) or an error message; secrets are compared in
 * constant time; an upload token dies with its upload.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { secretsEqual } from '../src/services/user-service.js';
import { Api } from './client.js';

let server: TestServer;
let api: Api;
let stdout = '';
/** Every secret the tests used or were handed; none may be logged. */
const secrets = new Set<string>();

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_LOG_LEVEL: 'debug' } });
  server.process.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  api = new Api(server.url, server.apiKey);
  remember(server.apiKey);
});
afterAll(() => server?.cleanup());

/** A key `bsub_<prefix>_<secret>`: the whole key and its secret part are both secrets. */
function remember(secret: string): void {
  secrets.add(secret);
  const parts = /^bsub_[0-9a-f]{12}_(.+)$/.exec(secret);
  if (parts) secrets.add(parts[1]!);
}

/** The same secret with its last character changed: right shape, wrong value. */
function flip(secret: string): string {
  return secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
}

function expectNoSecret(text: string, where: string): void {
  for (const s of secrets) expect(text.includes(s), `${where} contains ${s.slice(0, 12)}…`).toBe(false);
}

describe('secrets', () => {
  it('never writes an API key, upload token or session to the logs or an error message', async () => {
    const bodies: string[] = [];
    const collect = async (res: Response | Promise<Response>) => {
      const r = await res;
      bodies.push(`${r.status} ${JSON.stringify([...r.headers])} ${await r.text()}`);
      return r;
    };

    // Upload: a wrong token of the right shape, the right one, then the right one again.
    const job = await api.create('passthru');
    remember(job.upload_token!);
    const wrong = flip(job.upload_token!);
    remember(wrong);
    const form = () => {
      const f = new FormData();
      f.append('file', new Blob(['secret input']), 'in.txt');
      return f;
    };
    const upload = (token: string) =>
      collect(fetch(`${server.url}/v1/upload/${job.id}?token=${token}`, { method: 'POST', body: form() }));
    expect((await upload(wrong)).status).toBe(404);
    expect((await upload(job.upload_token!)).status).toBe(200);
    expect((await upload(job.upload_token!)).status).toBe(404);

    // Keys: unknown, one character off (same prefix: the constant-time path), malformed.
    const badKeys = [flip(server.apiKey), `${server.apiKey}x`, `bsub_000000000000_${'Q'.repeat(43)}`];
    for (const key of badKeys) {
      remember(key);
      expect((await collect(api.withKey(key).request('/v1/jobs'))).status).toBe(401);
      const signIn = api.withKey('').request('/v1/auth/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-bsubio-csrf': '1' },
        body: JSON.stringify({ api_key: key }),
      });
      expect((await collect(signIn)).status).toBe(401);
    }
    const workerToken = `bsubw_0123456789ab_${'W'.repeat(40)}`;
    remember(workerToken);
    const claim = fetch(`${server.url}/v1/worker/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${workerToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect((await collect(claim)).status).toBe(401);

    // A dashboard session (a person's: password) and a key made through it
    // (handed out once, in that answer only).
    const password = 'a password for secrets';
    remember(password);
    remember(await server.addUser('secrets@example.com', password));
    const session = await api.withKey('').request('/v1/auth/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bsubio-csrf': '1' },
      body: JSON.stringify({ email: 'secrets@example.com', password }),
    });
    expect(session.status).toBe(200);
    const cookie = session.headers.get('set-cookie')!.split(';')[0]!;
    remember(cookie.split('=')[1]!);
    const made = await api.withKey('').json<{ data: { api_key: string } }>('/v1/auth/keys', {
      method: 'POST',
      headers: { cookie, 'x-bsubio-csrf': '1', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(made.status).toBe(201);
    remember(made.body.data.api_key);
    expect((await collect(api.withKey('').request('/v1/auth/keys', { headers: { cookie } }))).status).toBe(
      200,
    );
    // A job that fails, so that its error path is logged too.
    const failed = await api.run('json_format', 'not json {');
    expect(failed.status).toBe('failed');

    await new Promise((r) => setTimeout(r, 500));
    const logs = server.stderr();
    // The logs are on and do describe these requests, with the token taken out of the URL.
    expect(logs).toContain('/v1/upload/');
    expect(logs).toContain('token=[redacted]');
    expectNoSecret(logs, 'stderr');
    expectNoSecret(stdout, 'stdout');
    for (const body of bodies) expectNoSecret(body, `answer ${body.slice(0, 80)}`);
    // Nor in any file the server keeps next to its data, other than the key file it writes for the CLI.
    for (const file of listFiles(server.dataDir)) {
      if (file.endsWith('local-api-key.json') || /bsubio\.db/.test(file)) continue;
      expectNoSecret(readFileSync(file, 'latin1'), file);
    }
  });

  it('lets an upload token die with its upload: refused afterwards, gone from the job and the database', async () => {
    const job = await api.create('passthru');
    const token = job.upload_token!;
    const first = await api.upload(job, 'one');
    expect(first.status).toBe(200);
    const again = await api.upload(job, 'two');
    expect(again.status).toBe(404);
    expect(JSON.stringify(again.body)).not.toContain(token);
    expect((await api.submit(job.id)).status).toBe(200);
    const finished = await api.waitTerminal(job.id);
    expect(finished.status).toBe('finished');
    // Still refused once the job is over, and the output is the first upload.
    expect((await api.upload(job, 'three')).status).toBe(404);
    expect(await (await api.request(`/v1/jobs/${job.id}/output`)).text()).toBe('one');
    // No answer about the job carries the token any more.
    expect(JSON.stringify(await api.get(job.id))).not.toContain(token);
    expect(JSON.stringify(await api.list('?limit=100'))).not.toContain(token);
    const events = await api.request(`/v1/jobs/${job.id}/events`);
    expect(await events.text()).not.toContain(token);
    // And the database no longer holds it.
    const db = new Database(join(server.dataDir, 'bsubio.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('select upload_token from jobs where id = ?').get(job.id) as {
        upload_token: string | null;
      };
      expect(row.upload_token).toBeNull();
    } finally {
      db.close();
    }
  });

  it('compares secrets in constant time, whatever their lengths', () => {
    expect(secretsEqual('same-secret', 'same-secret')).toBe(true);
    expect(secretsEqual('same-secret', 'same-secreT')).toBe(false);
    // timingSafeEqual alone throws on different lengths (and so tells the length): hashing first does not.
    expect(secretsEqual('short', 'a much longer secret')).toBe(false);
    expect(secretsEqual('', 'x')).toBe(false);
  });

  it('has no secret compared with === or !== anywhere in the server (static check)', () => {
    const src = join(import.meta.dirname, '..', 'src');
    // A comparison whose operand names a secret: an upload token, a key, a
    // password, a device or user code, a session or a webhook secret.
    const SECRET =
      /(upload_token|user_code|device_code|api_?key|apikey|secret|password|session_?id|token)\b/i;
    const offenders: string[] = [];
    for (const file of listFiles(src).filter((f) => f.endsWith('.ts'))) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/^\s*(\/\/|\*|\/\*)/.test(line)) return;
          for (const m of line.matchAll(/([\w.?[\]'"]+)\s*[!=]==\s*([\w.?[\]'"]+)/g)) {
            const [, left, right] = m;
            const operands = [left!, right!];
            // Presence checks and constants are not secret comparisons.
            if (operands.some((o) => /^(undefined|null|true|false|'[^']*'|"[^"]*"|\d+)$/.test(o))) continue;
            if (operands.some((o) => SECRET.test(o))) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
          }
        });
    }
    expect(offenders).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out;
}
