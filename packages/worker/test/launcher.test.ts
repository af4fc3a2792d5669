/**
 * Sandboxes start from the sandbox launcher, a small long-lived process,
 * instead of a fork of the server. What a sandbox sees must not change with
 * that (its user, limits, descriptors, cgroup), its stderr must arrive whole
 * and in order, and when the launcher or the server dies nothing it started
 * may outlive it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups, isAlive } from '../src/cgroup.js';
import { SandboxLauncher, sandboxLauncher } from '../src/launcher.js';
import { buildGatedSandboxCommand, runSandboxed, type SandboxRequest } from '../src/sandbox.js';

const dir = mkdtempSync(join(tmpdir(), 'bsubio-launcher-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const limits = { wall_seconds: 20, memory_mb: 256, output_mb: 8 };
let runs = 0;
function request(argv: string[], extra: Partial<SandboxRequest> = {}): SandboxRequest {
  const n = runs++;
  return {
    argv,
    readOnly: [],
    limits,
    stdoutPath: join(dir, `out-${n}`),
    stderrPath: join(dir, `err-${n}`),
    ...extra,
  };
}
const stdoutOf = (req: SandboxRequest) => readFileSync(req.stdoutPath, 'utf8');

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** BSUBIO_SANDBOX_LAUNCHER as given for the block's tests, and as it was after them. */
function withLauncherSetting(setting: string): void {
  const before = process.env.BSUBIO_SANDBOX_LAUNCHER;
  beforeAll(() => {
    process.env.BSUBIO_SANDBOX_LAUNCHER = setting;
  });
  afterAll(() => {
    if (before === undefined) delete process.env.BSUBIO_SANDBOX_LAUNCHER;
    else process.env.BSUBIO_SANDBOX_LAUNCHER = before;
  });
}

// Both launchers, each in full: the C one (built by launcher/build.mjs) and
// the Perl one it stands in for.
describe.each(['c', 'perl'] as const)('the %s launcher', (kind) => {
  withLauncherSetting(kind);
  it('is what starts the sandboxes on this machine', async () => {
    const launcher = await sandboxLauncher();
    expect(launcher).toBeInstanceOf(SandboxLauncher);
    // The C one is built whenever a compiler is at hand, and set-up installs one.
    expect(launcher?.kind).toBe(kind);
  });

  it('gives the tool the same limits as the gate shell that starts sandboxes from Node', async () => {
    const argv = ['prlimit', '--output=RESOURCE,SOFT,HARD', '--data', '--fsize', '--nofile', '--core'];
    const req = request(argv);
    const result = await runSandboxed(req);
    expect(result.outcome).toBe('exited');
    expect(result.exitCode).toBe(0);

    const gate = buildGatedSandboxCommand(req, { pidsCgroup: true });
    const viaGate = await new Promise<string>((resolve, reject) => {
      const child = spawn(gate[0]!, gate.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.once('error', reject);
      child.once('close', () => resolve(out));
      child.stdin.end('go\n');
    });
    expect(stdoutOf(req)).toBe(viaGate);
    expect(stdoutOf(req)).toMatch(/NOFILE\s+1024\s+1024/);
  });

  it('runs the tool as nobody with no other group, holding no descriptor but its own', async () => {
    // Two at once: neither may hold the other's stderr pipe or the launcher's.
    const slow = request(['sleep', '1']);
    const look = request(['sh', '-c', 'id -u; id -G; exec ls /proc/self/fd']);
    const [, result] = await Promise.all([runSandboxed(slow), runSandboxed(look)]);
    expect(result.exitCode).toBe(0);
    const [uid, groups, ...fds] = stdoutOf(look).trim().split('\n');
    if (process.getuid?.() === 0) {
      expect(uid).toBe('65534');
      expect(groups).toBe('65534');
    }
    // 0-2, and 3: the directory ls itself is reading.
    expect(fds).toEqual(['0', '1', '2', '3']);
  });

  it('relays stderr whole and in order, beside the exit code', async () => {
    const script = 'i=0; while [ $i -lt 20000 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 7';
    const chunks: Buffer[] = [];
    const req = request(['sh', '-c', script], { onStderr: (chunk) => chunks.push(Buffer.from(chunk)) });
    const result = await runSandboxed(req);
    expect(result.exitCode).toBe(7);
    const expected = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');
    expect(Buffer.concat(chunks).toString()).toBe(expected);
    expect(readFileSync(req.stderrPath, 'utf8')).toBe(expected);
    expect(result.lastStderrLine).toBe('line 19999');
  });

  it('keeps each of many sandboxes at once apart: its own stdout, stderr and exit code', async () => {
    const reqs = Array.from({ length: 16 }, (_, n) =>
      request([
        'sh',
        '-c',
        `i=0; while [ $i -lt 300 ]; do echo "job ${n} line $i" >&2; i=$((i+1)); done; echo out ${n}; exit ${n}`,
      ]),
    );
    const results = await Promise.all(reqs.map((req) => runSandboxed(req)));
    results.forEach((result, n) => {
      expect(result.exitCode).toBe(n);
      expect(stdoutOf(reqs[n]!)).toBe(`out ${n}\n`);
      const expected = Array.from({ length: 300 }, (_, i) => `job ${n} line ${i}\n`).join('');
      expect(readFileSync(reqs[n]!.stderrPath, 'utf8')).toBe(expected);
    });
  });

  it('reports a tool killed by a signal by its name', async () => {
    const result = await runSandboxed(request(['sh', '-c', 'kill -TERM $$']));
    expect(result.outcome).toBe('exited');
    // bwrap (the sandbox's pid 1 outside) passes the tool's end on as its own exit status.
    expect(result.exitCode === 143 || result.termSignal === 'SIGTERM').toBe(true);
  });

  it('refuses an argument it cannot pass, and a command that cannot start, naming them', async () => {
    const launcher = new SandboxLauncher(kind);
    try {
      await launcher.ready;
      const base = {
        env: { PATH: '/usr/bin:/bin' },
        stdoutPath: join(dir, 'refused'),
        cgroupProcs: [],
        rlimits: { data: 1 << 30, fsize: 1 << 20, nofile: 64, core: 0 },
      };
      await expect(launcher.start({ ...base, argv: ['echo', 'a\0b'] })).rejects.toThrow(/NUL byte/);
      await expect(launcher.start({ ...base, argv: ['/nonexistent/tool'] })).rejects.toThrow(
        /exec \/nonexistent\/tool: No such file/,
      );
      // A bare name is looked for on the job's PATH, as execvp would.
      await expect(launcher.start({ ...base, argv: ['no-such-tool-bsubio'] })).rejects.toThrow(
        /exec no-such-tool-bsubio: No such file/,
      );
      await expect(
        launcher.start({ ...base, argv: ['true'], stdoutPath: join(dir, 'no-such-dir', 'out') }),
      ).rejects.toThrow(/no-such-dir\/out: No such file/);
      const bogus = { ...base.rlimits, bogus: 1 } as typeof base.rlimits;
      await expect(launcher.start({ ...base, argv: ['true'], rlimits: bogus })).rejects.toThrow(
        /unknown resource limit bogus/,
      );
      // Above the kernel's fs.nr_open: refused in the child, before bwrap.
      await expect(
        launcher.start({ ...base, argv: ['true'], rlimits: { ...base.rlimits, nofile: 2 ** 40 } }),
      ).rejects.toThrow(/setrlimit nofile: Operation not permitted/);
      // Still serving after the refusals.
      const ok = await launcher.start({ ...base, argv: ['true'] });
      expect((await ok.closed).exitCode).toBe(0);
    } finally {
      launcher.stop();
    }
  });

  it('ends a run as a failure to start when the launcher dies under it, and the next run gets a new one', async () => {
    const launcher = await sandboxLauncher();
    const pid = launcher?.pid as number;
    const req = request(['sleep', '30']);
    const running = runSandboxed(req);
    await new Promise((r) => setTimeout(r, 500));
    process.kill(pid, 'SIGKILL');
    const result = await running;
    expect(result.outcome).toBe('spawn_error');
    expect(readFileSync(req.stderrPath, 'utf8')).toMatch(/launcher stopped/);

    const next = request(['echo', 'again']);
    expect((await runSandboxed(next)).exitCode).toBe(0);
    expect(stdoutOf(next)).toBe('again\n');
    expect((await sandboxLauncher())?.pid).not.toBe(pid);
  });

  it('leaves no launcher and no sandbox behind when the server is killed', async () => {
    // A stand-in server: starts a long sandbox, prints the pids, then is SIGKILLed.
    const code = `
      import { runSandboxed } from ${JSON.stringify(new URL('../dist/sandbox.js', import.meta.url).pathname)};
      import { sandboxLauncher } from ${JSON.stringify(new URL('../dist/launcher.js', import.meta.url).pathname)};
      const run = runSandboxed({ argv: ['sleep', '60'], readOnly: [],
        limits: { wall_seconds: 60, memory_mb: 256, output_mb: 1 },
        stdoutPath: ${JSON.stringify(join(dir, 'orphan-out'))}, stderrPath: ${JSON.stringify(join(dir, 'orphan-err'))} });
      const launcher = await sandboxLauncher();
      setTimeout(() => console.log(JSON.stringify({ launcher: launcher.pid })), 500);
      await run;`;
    const server = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BSUBIO_SANDBOX_LAUNCHER: kind },
    });
    const line = await new Promise<string>((resolve) =>
      server.stdout.once('data', (d) => resolve(String(d))),
    );
    const launcherPid = JSON.parse(line).launcher as number;
    const sandboxPids = childrenOf(launcherPid);
    expect(sandboxPids.length).toBeGreaterThan(0);
    server.kill('SIGKILL');
    await until('the launcher to exit', () => !isAlive(launcherPid));
    await until('the sandbox to exit', () => sandboxPids.every((p) => !isAlive(p)));
  });
});

describe.each([
  { how: 'from the C launcher', setting: 'c' },
  { how: 'from the Perl launcher', setting: 'perl' },
  { how: 'from Node (BSUBIO_SANDBOX_LAUNCHER=0)', setting: '0' },
])('started $how', ({ setting }) => {
  withLauncherSetting(setting);

  it.skipIf(!detectCgroups().support)('the sandbox is in its cgroup before the tool starts', async () => {
    const result = await runSandboxed(request(['sh', '-c', 'echo started']));
    expect(result.limitsBy).toBe('cgroup');
    expect(result.cpuSeconds).toBeGreaterThan(0);
  });

  it('the tool runs as the sandbox user with the data limit, stdout in the output file', async () => {
    const req = request(['sh', '-c', 'id -u; ulimit -d; echo done']);
    const result = await runSandboxed(req);
    expect(result.exitCode).toBe(0);
    const [uid, data, done] = stdoutOf(req).trim().split('\n');
    if (process.getuid?.() === 0) expect(uid).toBe('65534');
    expect(data).toBe(String(limits.memory_mb * 1024));
    expect(done).toBe('done');
  });

  it('stderr arrives in order and an exit code is kept', async () => {
    const chunks: Buffer[] = [];
    const req = request(['sh', '-c', 'echo one >&2; echo two >&2; exit 5'], {
      onStderr: (chunk) => chunks.push(Buffer.from(chunk)),
    });
    const result = await runSandboxed(req);
    expect(result.exitCode).toBe(5);
    expect(Buffer.concat(chunks).toString()).toBe('one\ntwo\n');
  });
});

/** Direct children of a process, from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
