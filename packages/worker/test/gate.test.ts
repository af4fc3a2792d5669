/**
 * A sandbox that gets a cgroup starts behind a gate shell, which sets the
 * resource limits itself (ulimit) instead of executing prlimit: the tool
 * must see exactly the limits that prlimit gives it on the other path.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { buildGatedSandboxCommand, buildSandboxCommand, type SandboxRequest } from '../src/sandbox.js';

/** What the tool sees, as `prlimit` prints it in the sandbox: resource, soft, hard. */
function limitsSeen(argv: string[], gated: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
    child.stdin.end(gated ? 'go\n' : '');
  });
}

const request = (limits: SandboxRequest['limits']): SandboxRequest => ({
  argv: ['prlimit', '--output=RESOURCE,SOFT,HARD', '--data', '--fsize', '--nofile', '--core'],
  readOnly: [],
  limits,
  stdoutPath: '/dev/null',
  stderrPath: '/dev/null',
});

it.each([
  { wall_seconds: 10, memory_mb: 256, output_mb: 8 },
  { wall_seconds: 10, memory_mb: 1536, output_mb: 0.5 },
])('gives the tool the same data, file size, open files and core limits as prlimit (%o)', async (limits) => {
  const start = { pidsCgroup: true };
  const viaPrlimit = await limitsSeen(buildSandboxCommand(request(limits), start), false);
  const viaGate = await limitsSeen(buildGatedSandboxCommand(request(limits), start), true);
  expect(viaGate).toBe(viaPrlimit);
  expect(viaGate).toMatch(
    new RegExp(`DATA\\s+${limits.memory_mb * 1024 * 1024}\\s+${limits.memory_mb * 1024 * 1024}`),
  );
  expect(viaGate).toMatch(
    new RegExp(`FSIZE\\s+${limits.output_mb * 1024 * 1024}\\s+${limits.output_mb * 1024 * 1024}`),
  );
  expect(viaGate).toMatch(/NOFILE\s+1024\s+1024/);
  expect(viaGate).toMatch(/CORE\s+0\s+0/);
});

it('starts nothing when the gate hears no word (the server gave up on the cgroup)', async () => {
  const argv = buildGatedSandboxCommand(request({ wall_seconds: 10, memory_mb: 256, output_mb: 8 }), {
    pidsCgroup: true,
  });
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stdin.end('');
  const code = await new Promise((r) => child.once('close', r));
  expect(code).not.toBe(0);
  expect(out).toBe('');
});
