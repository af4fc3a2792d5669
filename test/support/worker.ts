/**
 * Starts `bsubio-worker` (the @bsubio/worker package's agent) as a real process that knows the server only
 * by its URL and token (no database or storage settings, HOME in its scratch
 * directory), and waits until it says it is ready.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const WORKER_BIN = join(
  import.meta.dirname,
  '..',
  '..',
  'packages',
  'worker',
  'bin',
  'bsubio-worker.js',
);

export interface RemoteWorkerOptions {
  name: string;
  /** The server's URL, or several, comma-separated. */
  server: string;
  token: string;
  /** Its scratch directory, also its HOME. */
  dir: string;
  /** More flags: --types, --concurrency, --lease-seconds, ... */
  args: string[];
}

/** The process at once (to be killed whatever happens), and its readiness. */
export function startRemoteWorker(options: RemoteWorkerOptions): {
  child: ChildProcess;
  ready: Promise<ChildProcess>;
} {
  const { name, server, token, dir, args } = options;
  const child = spawn(
    process.execPath,
    [WORKER_BIN, '--server', server, '--token', token, '--name', name, '--scratch-dir', dir, ...args],
    { env: { PATH: process.env.PATH, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const ready = new Promise<ChildProcess>((resolve, reject) => {
    // Generous: on the slow VMs CI runs on, loading a Node process has taken 25 s.
    const timer = setTimeout(() => reject(new Error(`worker ${name} did not start:\n${stderr}`)), 120_000);
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/ready/.test(stdout)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited with ${code}:\n${stderr}`));
    });
  });
  return { child, ready };
}
