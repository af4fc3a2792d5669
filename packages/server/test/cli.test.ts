/** The bsubio-server command: first start, users and keys, help, bad settings. */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SERVER_BIN, startServer } from '../../../test/support/server.js';
import { tempDir } from '../../../test/support/temp-dirs.js';
import { Api, expectError } from './client.js';

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, [SERVER_BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The CLI with `input` on its stdin (how a password is given when it is not a terminal). */
async function cliWithInput(args: string[], env: Record<string, string>, input: string) {
  const child = spawn(process.execPath, [SERVER_BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

describe('first start', () => {
  it('creates a local user and writes the client config file with mode 0600', async () => {
    const server = await startServer();
    try {
      const path = join(server.home, '.config', 'bsubio', 'config.json');
      const config = JSON.parse(readFileSync(path, 'utf8'));
      expect(Object.keys(config).sort()).toEqual(['api_key', 'base_url']);
      expect(config.api_key).toMatch(/^bsub_[0-9a-f]{12}_/);
      // The test server listens on --port 0: the file names the port it got.
      expect(config.base_url).toBe(server.url);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(server.stderr()).toContain(`its API key is saved in ${path}`);
      expect(server.stderr()).toContain(
        `Dashboard: ${server.url}/ (sign in with that API key, or give local@localhost a password: bsubio-server user password local@localhost).`,
      );
      expect(server.stderr()).not.toContain(config.api_key);
      // The key works.
      const api = new Api(server.url, config.api_key);
      expect((await api.list()).total).toBe(0);
    } finally {
      await server.cleanup();
    }
  });

  it('leaves an existing client config alone and saves the key in the data directory', async () => {
    const home = tempDir('bsubio-home-');
    mkdirSync(join(home, '.config', 'bsubio'), { recursive: true });
    const path = join(home, '.config', 'bsubio', 'config.json');
    writeFileSync(path, '{"api_key":"mine","base_url":"https://app.bsub.io"}');
    const server = await startServer({ home });
    try {
      expect(readFileSync(path, 'utf8')).toContain('"mine"');
      const saved = JSON.parse(readFileSync(join(server.dataDir, 'local-api-key.json'), 'utf8'));
      expect((await new Api(server.url, saved.api_key).list()).total).toBe(0);
      expect(server.stderr()).toContain('already exists');
    } finally {
      await server.cleanup();
    }
  });

  it('does not create another user on the next start', async () => {
    const server = await startServer();
    const again = await server.restart();
    try {
      expect(again.stderr()).not.toContain('Created user');
      expect((await new Api(again.url, server.apiKey).list()).total).toBe(0);
    } finally {
      await again.cleanup();
    }
  });
});

describe('users and keys', () => {
  it('user add prints only a key; key add adds another; key revoke stops one', async () => {
    const server = await startServer();
    const env = { BSUBIO_DATA_DIR: server.dataDir, HOME: server.home };
    try {
      const added = await cli(['user', 'add', 'Carol@Example.com'], env);
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/^bsub_[0-9a-f]{12}_[A-Za-z0-9_-]+\n$/);
      const first = added.stdout.trim();

      const second = (await cli(['key', 'add', 'carol@example.com'], env)).stdout.trim();
      expect(second).toMatch(/^bsub_/);
      expect(second).not.toBe(first);

      const a = new Api(server.url, first);
      const b = new Api(server.url, second);
      const job = await a.create('passthru');
      expect((await b.get(job.id)).id).toBe(job.id);

      const prefix = first.split('_')[1]!;
      const revoked = await cli(['key', 'revoke', prefix.slice(0, 8)], env);
      expect(revoked.code).toBe(0);
      await expectError(a.request('/v1/jobs'), 401);
      expect((await b.list()).total).toBe(1);
    } finally {
      await server.cleanup();
    }
  });

  it('user password sets the password of an existing user and signs out the sessions of the old one', async () => {
    const server = await startServer();
    const env = { BSUBIO_DATA_DIR: server.dataDir, HOME: server.home };
    const signIn = (password: string) =>
      fetch(`${server.url}/v1/auth/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-bsubio-csrf': '1' },
        body: JSON.stringify({ email: 'local@localhost', password }),
      });
    const sessionOf = async (cookie: string) =>
      (await fetch(`${server.url}/v1/auth/session`, { headers: { cookie } })).status;
    try {
      // The user made on first start has a key and no password.
      expect((await signIn('first password')).status).toBe(401);
      const set = await cliWithInput(['user', 'password', 'local@localhost'], env, 'first password\n');
      expect(set).toMatchObject({
        code: 0,
        stdout: '',
        stderr: 'Set the dashboard password of local@localhost.\n',
      });
      const first = await signIn('first password');
      expect(first.status).toBe(200);
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      expect(await sessionOf(cookie)).toBe(200);

      await cliWithInput(['user', 'password', 'LOCAL@localhost'], env, 'second password\n');
      expect(await sessionOf(cookie)).toBe(401);
      expect((await signIn('first password')).status).toBe(401);
      expect((await signIn('second password')).status).toBe(200);

      const short = await cliWithInput(['user', 'password', 'local@localhost'], env, 'short\n');
      expect(short.code).toBe(1);
      expect(short.stderr).toContain('at least 8 characters; nothing was changed.');
      expect((await signIn('second password')).status).toBe(200);
      const nobody = await cliWithInput(['user', 'password', 'nobody@example.com'], env, 'third password\n');
      expect(nobody.code).toBe(1);
      expect(nobody.stderr).toBe(
        'bsubio-server: No user with email nobody@example.com; create one with "bsubio-server user add nobody@example.com".\n',
      );
    } finally {
      await server.cleanup();
    }
  });

  it('explains mistakes on stderr with exit code 1', async () => {
    const dataDir = tempDir('bsubio-data-');
    const env = { BSUBIO_DATA_DIR: dataDir };
    await cli(['user', 'add', 'dave@example.com'], env);
    const duplicate = await cli(['user', 'add', 'dave@example.com'], env);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/already exists/);
    const notEmail = await cli(['user', 'add', 'nobody'], env);
    expect(notEmail.stderr).toMatch(/not an email address/);
    const noUser = await cli(['key', 'add', 'eve@example.com'], env);
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toMatch(/No user with email eve@example.com/);
    const noKey = await cli(['key', 'revoke', 'ffffffff'], env);
    expect(noKey.stderr).toMatch(/No active key starts with/);
    const unknown = await cli(['frobnicate'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('refuses a bad setting with a sentence naming it', async () => {
    const bad = await cli(['--port', 'eighty'], { BSUBIO_DATA_DIR: tempDir('bsubio-data-') });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--port \/ BSUBIO_PORT must be an integer/);
    const badEnv = await cli([], { BSUBIO_DATA_DIR: tempDir('bsubio-data-'), BSUBIO_WORKERS: '-1' });
    expect(badEnv.stderr).toMatch(/BSUBIO_WORKERS must be an integer/);
    const unknownFlag = await cli(['--colour', 'red'], {});
    expect(unknownFlag.code).toBe(1);
    expect(unknownFlag.stderr).toMatch(/Unknown option '--colour'/);
  });

  it.each([[['--help']], [['serve', '--help']], [['user', '--help']], [['key', '--help']]])(
    '%s prints help on stdout',
    async (args) => {
      const { code, stdout } = await cli(args, {});
      expect(code).toBe(0);
      expect(stdout).toMatch(/Usage/);
      if (args[0] !== 'user' && args[0] !== 'key') {
        for (const variable of [
          'BSUBIO_PORT',
          'BSUBIO_HOST',
          'BSUBIO_DATA_DIR',
          'BSUBIO_MAX_UPLOAD_BYTES',
          'BSUBIO_WORKERS',
        ]) {
          expect(stdout).toContain(variable);
        }
      }
    },
  );
});

describe('shutdown', () => {
  it('exits 0 on SIGTERM', async () => {
    const server = await startServer();
    expect(await server.stop()).toBe(0);
    await server.cleanup();
  });
});
