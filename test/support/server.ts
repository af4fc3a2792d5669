/**
 * Starts the built `bsubio-server` as a real process on a free loopback port,
 * with a throwaway data directory and HOME, for tests over real HTTP.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const SERVER_BIN = join(
  import.meta.dirname,
  '..',
  '..',
  'packages',
  'server',
  'bin',
  'bsubio-server.js',
);

export interface TestServer {
  url: string;
  /** The key of the local user created on first start. */
  apiKey: string;
  dataDir: string;
  home: string;
  process: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM and wait for exit; returns the exit code, or the signal's name if one ended it. */
  stop(): Promise<number | string>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Start the same data directory again (after stop or kill). */
  restart(env?: Record<string, string>): Promise<TestServer>;
  /** Create a user through the CLI and return its key. */
  /** Create a user through the CLI (with a dashboard password when given) and return its key. */
  addUser(email: string, password?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  dataDir?: string;
  home?: string;
  port?: number;
  /**
   * How long to wait for "Listening:". Default 120 s: on the slow VMs CI runs
   * on, loading the server alone has taken 25 s.
   */
  startTimeoutMs?: number;
}

export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'bsubio-data-'));
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'bsubio-home-'));
  const env = {
    ...process.env,
    HOME: home,
    BSUBIO_DATA_DIR: dataDir,
    BSUBIO_LOG_LEVEL: 'warn',
    // An answer that does not match its route's schema is a 500 and a logged error.
    BSUBIO_VALIDATE_RESPONSES: '1',
    ...options.env,
  };
  const child = spawn(process.execPath, [SERVER_BIN, '--port', String(options.port ?? 0)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );

  const started = new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time:\n${stderr}`));
    }, options.startTimeoutMs ?? 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const match = /Listening: (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${stderr}`));
    });
  });
  let url: string;
  try {
    url = await started;
  } catch (error) {
    // A server that never listened (what some tests want) leaves no
    // directories behind: the caller gets no server to clean up.
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (!options.home) rmSync(home, { recursive: true, force: true });
    throw error;
  }

  const keyFile = (() => {
    for (const path of [
      join(home, '.config', 'bsubio', 'config.json'),
      join(dataDir, 'local-api-key.json'),
    ]) {
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as { api_key: string };
      } catch {}
    }
    return { api_key: '' };
  })();

  const server: TestServer = {
    url,
    apiKey: keyFile.api_key,
    dataDir,
    home,
    process: child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async restart(extraEnv) {
      await server.stop();
      const port = Number(new URL(url).port);
      const next = await startServer({
        ...options,
        dataDir,
        home,
        port,
        env: { ...options.env, ...extraEnv },
      });
      next.apiKey = server.apiKey;
      return next;
    },
    async addUser(email, password) {
      if (password === undefined) {
        const { stdout } = await run(process.execPath, [SERVER_BIN, 'user', 'add', email], { env });
        return stdout.trim();
      }
      // The password goes on stdin, as `user add --password` reads it when not on a terminal.
      const child = spawn(process.execPath, [SERVER_BIN, 'user', 'add', email, '--password'], {
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d));
      child.stderr!.on('data', (d: Buffer) => (err += d));
      child.stdin!.end(`${password}\n`);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      if (code !== 0) throw new Error(`user add ${email} --password: exit ${code}: ${err}`);
      return out.trim();
    },
    async cleanup() {
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
  return server;
}
