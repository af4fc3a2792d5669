/**
 * Runs the built `bsubio` as a subprocess, the way a user's shell does, with
 * its own HOME (so its config file is the test's) and no colour unless asked.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../../../test/support/temp-dirs.js';

/** The built CLI; BSUBIO_CLI_BIN runs the same tests against another build (say, an older one). */
export const BIN = process.env.BSUBIO_CLI_BIN || join(import.meta.dirname, '..', '..', 'bin', 'bsubio.js');

export interface Result {
  code: number | null;
  stdout: string;
  /** stdout as bytes, for outputs that are not text. */
  bytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  home: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  cwd?: string;
  /** Run as a user who cannot read or write what its permissions forbid (see `unprivileged`). */
  unprivileged?: boolean;
}

/**
 * The tests may run as root, whom file permissions do not stop: drop the
 * capabilities that let root past them, so a mode 000 file is unreadable.
 */
export function unprivileged(command: string[]): string[] {
  if (process.getuid?.() !== 0) return command;
  return ['setpriv', '--bounding-set=-dac_override,-dac_read_search', ...command];
}

/** The test's environment with HOME replaced and none of the user's BSUBIO_* settings. */
export function envFor(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.NO_COLOR;
  delete env.BSUBIO_API_KEY;
  delete env.BSUBIO_BASE_URL;
  return env;
}

export function bsubio(args: string[], options: RunOptions): Promise<Result> {
  const env = envFor(options.home);
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return new Promise((resolve, reject) => {
    const [file, ...rest] = options.unprivileged
      ? unprivileged([process.execPath, BIN, ...args])
      : [process.execPath, BIN, ...args];
    const child = spawn(file!, rest, { env, cwd: options.cwd, stdio: 'pipe' });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      chunks.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(chunks);
      resolve({ code, stdout: bytes.toString('utf8'), bytes, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A HOME whose ~/.config/bsubio/config.json holds `config`. */
export function homeWith(config: Record<string, string> | undefined): string {
  const home = tempDir('bsubio-cli-home-');
  if (config) {
    mkdirSync(join(home, '.config', 'bsubio'), { recursive: true });
    writeFileSync(join(home, '.config', 'bsubio', 'config.json'), JSON.stringify(config));
  }
  return home;
}

/** The one-line error contract: exit 1, nothing on stdout, exactly one line on stderr. */
export function errorOf(result: Result): string {
  if (result.code !== 1) throw new Error(`expected exit 1, got ${result.code}: ${result.stderr}`);
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got:\n${result.stderr}`);
  if (result.stdout !== '') throw new Error(`expected nothing on stdout, got:\n${result.stdout}`);
  return lines[0]!;
}

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;
