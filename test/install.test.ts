/**
 * bsubio installed the way users install it: `npm pack` of every package,
 * then `npm install` of the tarballs into empty directories outside the
 * repository — one for the server, one for a client (SDK + CLI), one for a
 * remote worker alone. Then, with nothing of the checkout in reach:
 * `npx bsubio-server` serves with no in-process workers, a `bsubio-worker`
 * installed on its own takes the job, `npx bsubio` submits it and gets the
 * output, and the SDK imports from ESM, CommonJS and strict TypeScript.
 *
 * Which tarballs each directory gets, and which entry points start, are read
 * from the Dockerfile: this is what its images do, run without a container
 * engine (none on CI). The compose files are checked against the --help of
 * the commands they run.
 *
 * Dependencies come from npm's cache when `npm ci` filled it (--prefer-offline),
 * else from the registry.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { isAlive } from '../packages/worker/src/cgroup.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const PACKAGES = ['protocol', 'worker', 'web', 'server', 'sdk', 'cli'] as const;
/** npm, npx and the bins' `#!/usr/bin/env node` all use the Node running the tests. */
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };

/** The Dockerfile's stages: name → instructions (continuation lines joined). */
function dockerStages(): Map<string, { op: string; args: string }[]> {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = new Map<string, { op: string; args: string }[]>();
  let current: { op: string; args: string }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, op, args] = match as unknown as [string, string, string];
    if (op === 'FROM') {
      current = [];
      stages.set(/\bAS\s+(\S+)/i.exec(args)?.[1] ?? args, current);
    }
    current.push({ op, args: args.replace(/\s+/g, ' ') });
  }
  return stages;
}

const STAGES = dockerStages();

/** An image's packages, from its `npm install ... bsubio-<name>-*.tgz` step. */
function imagePackages(stage: string): (typeof PACKAGES)[number][] {
  const install = STAGES.get(stage)!.find((i) => i.op === 'RUN' && /npm install/.test(i.args))!;
  return [...install.args.matchAll(/bsubio-([a-z]+)-\*\.tgz/g)].map((m) => m[1] as (typeof PACKAGES)[number]);
}

/** An image's entry point as a bin name, from ENTRYPOINT ["/app/node_modules/.bin/<bin>"]. */
function imageEntryPoint(stage: string): string {
  const entry = STAGES.get(stage)!.find((i) => i.op === 'ENTRYPOINT')!;
  const [command] = JSON.parse(entry.args) as string[];
  expect(command).toMatch(/^\/app\/node_modules\/\.bin\//);
  return command!.split('/').pop()!;
}

let work: string;
const tarballs: Record<string, string> = {};
/** The paths each tarball holds, as `npm pack --json` listed them. */
const packed: Record<string, string[]> = {};
const children: ChildProcess[] = [];

function npm(args: string[], cwd: string) {
  return run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
}

/** An empty project directory with these packages installed from their tarballs. */
async function installInto(name: string, packages: (typeof PACKAGES)[number][]): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `try-${name}`, private: true }));
  await npm(
    ['install', '--prefer-offline', '--no-audit', '--no-fund', ...packages.map((p) => tarballs[p]!)],
    dir,
  );
  return dir;
}

/** What each started bin wrote to stderr, and its npx process, by its name. */
const stderrOf: Record<string, () => string> = {};
const processOf: Record<string, ChildProcess> = {};

/** Start a bin with npx in `cwd` and wait until stdout matches `ready`. */

function startBin(cwd: string, args: string[], extraEnv: Record<string, string>, ready: RegExp) {
  const child = spawn('npx', ['--no', '--', ...args], {
    cwd,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d).slice(-20_000)));
  stderrOf[args[0]!] = () => err;
  processOf[args[0]!] = child;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${err}`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] ?? match[0]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code}:\n${err}`));
    });
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bsubio-install-'));
  const packs = join(work, 'packs');
  mkdirSync(packs);
  // The root build (npm test runs it first) made dist/; --ignore-scripts skips a second one.
  for (const pkg of PACKAGES) {
    const { stdout } = await npm(
      ['pack', '--json', '--ignore-scripts', '--pack-destination', packs],
      join(ROOT, 'packages', pkg),
    );
    const [report] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    tarballs[pkg] = join(packs, report.filename);
    packed[pkg] = report.files.map((f) => f.path);
  }
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarballs', () => {
  it('hold no tests, sources, source maps or build info', () => {
    for (const pkg of PACKAGES) {
      expect(packed[pkg]?.length, pkg).toBeGreaterThan(0);
      const junk = packed[pkg]!.filter((p) =>
        /(^|\/)test\/|\.test\.|\.map$|\.tsbuildinfo$|^src\/|(?<!\.d)\.tsx?$/.test(p),
      );
      expect(junk, pkg).toEqual([]);
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8'));
      expect(manifest.license, pkg).toBe('MIT');
      expect(manifest.engines?.node, pkg).toBe('>=22');
      expect(manifest.repository?.url, pkg).toMatch(/^git\+https:/);
    }
  });
});

describe('installed from the tarballs, outside the repository', () => {
  let serverDir: string;
  let clientDir: string;
  let workerDir: string;
  let home: string;
  let url: string;

  beforeAll(async () => {
    // One after another: parallel installs into one npm cache on a 2-core VM only contend.
    serverDir = await installInto('server', imagePackages('server'));
    workerDir = await installInto('worker', imagePackages('worker'));
    clientDir = await installInto('client', ['protocol', 'sdk', 'cli']);
    home = join(work, 'home');
    mkdirSync(home);
    expect(imageEntryPoint('server')).toBe('bsubio-server');
    url = await startBin(
      serverDir,
      ['bsubio-server', '--port', '0', '--workers', '0'],
      { HOME: home, BSUBIO_DATA_DIR: join(work, 'data') },
      /^Listening: (\S+)$/m,
    );
  });

  it('a remote worker installed alone holds none of the server dependencies', () => {
    for (const heavy of ['fastify', 'better-sqlite3', 'pg', '@aws-sdk/client-s3', 'kysely']) {
      expect(existsSync(join(workerDir, 'node_modules', heavy)), heavy).toBe(false);
    }
    expect(existsSync(join(workerDir, 'node_modules', '.bin', 'bsubio-worker'))).toBe(true);
  });

  it('serves the dashboard from the installed @bsubio/web', async () => {
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/<html/i);
  });

  it('runs a job: bsubio submits it, the lone bsubio-worker runs it', async () => {
    const { stdout: token } = await run(
      'npx',
      ['--no', '--', 'bsubio-server', 'worker-token', 'add', 'installed'],
      {
        cwd: serverDir,
        env: { ...env, HOME: home, BSUBIO_DATA_DIR: join(work, 'data') },
      },
    );
    expect(token.trim()).toMatch(/^bsubw_/);
    expect(imageEntryPoint('worker')).toBe('bsubio-worker');
    await startBin(
      workerDir,
      [
        'bsubio-worker',
        '--server',
        url,
        '--token',
        token.trim(),
        '--name',
        'lone',
        '--types',
        'passthru,typst/pdf',
      ],
      { HOME: join(work, 'worker-home') },
      /ready/,
    );
    const input = join(work, 'hello.txt');
    writeFileSync(input, 'hello from an installed bsubio\n');
    const { stdout } = await run('npx', ['--no', '--', 'bsubio', 'submit', '-w', 'passthru', input], {
      cwd: clientDir,
      env: { ...env, HOME: home },
    });
    expect(stdout).toContain('hello from an installed bsubio');
    const { stdout: listed } = await run('npx', ['--no', '--', 'bsubio', 'jobs', '--json'], {
      cwd: clientDir,
      env: { ...env, HOME: home },
    });
    // The server runs no workers of its own (--workers 0): only the lone agent can have run it.
    const jobs = JSON.parse(listed) as { claimed_by?: string; status: string }[];
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.status).toBe('finished');
    // The agent logs JSON lines with the server's fields (pino), naming itself.
    const lines = stderrOf['bsubio-worker']!().trim().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    // The tarball carries the sandbox launcher: sandboxes do not fall back to forks of the worker.
    expect(stderrOf['bsubio-worker']!()).toContain('sandboxes start from the sandbox launcher');
    for (const line of lines) {
      expect(JSON.parse(line)).toMatchObject({
        level: expect.any(Number),
        time: expect.any(Number),
        pid: expect.any(Number),
        hostname: expect.any(String),
        msg: expect.any(String),
        worker: 'lone',
      });
    }
  });

  it('the lone bsubio-worker compiles Typst with the compiler npm installed beside it', async () => {
    // @bsubio/worker's optional dependency, and its binary for this platform, came with the tarball.
    expect(existsSync(join(workerDir, 'node_modules', '@myriaddreamin', 'typst-ts-node-compiler'))).toBe(
      true,
    );
    const input = join(work, 'note.typ');
    writeFileSync(input, '= Installed\nCompiled by an installed worker.\n');
    const pdf = join(work, 'note.pdf');
    await run('npx', ['--no', '--', 'bsubio', 'submit', 'typst/pdf', input, '-o', pdf], {
      cwd: clientDir,
      env: { ...env, HOME: home },
    });
    const { stdout: text } = await run('pdftotext', [pdf, '-']);
    expect(text).toContain('Compiled by an installed worker.');
  });

  it('the lone bsubio-worker, stopped, removes the scratch directory it made', async () => {
    // Its default scratch directory is named after its pid, which its log lines carry.
    const { pid } = JSON.parse(stderrOf['bsubio-worker']!().trim().split('\n')[0]!) as { pid: number };
    const scratch = join(tmpdir(), `bsubio-worker-${pid}`);
    expect(existsSync(scratch)).toBe(true);
    const npx = processOf['bsubio-worker']!;
    process.kill(-npx.pid!, 'SIGTERM');
    for (let waited = 0; isAlive(pid) && waited < 60_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(isAlive(pid)).toBe(false);
    expect(stderrOf['bsubio-worker']!()).toContain('"msg":"stopped"');
    expect(existsSync(scratch)).toBe(false);
  });

  it('the SDK imports from ESM, CommonJS and strict TypeScript', async () => {
    writeFileSync(
      join(clientDir, 'esm.mjs'),
      "import { BsubClient, BsubError } from 'bsubio';\nconsole.log(typeof BsubClient, typeof BsubError);\n",
    );
    writeFileSync(
      join(clientDir, 'cjs.cjs'),
      "const { BsubClient, BsubError } = require('bsubio');\nconsole.log(typeof BsubClient, typeof BsubError);\n",
    );
    for (const file of ['esm.mjs', 'cjs.cjs']) {
      const { stdout } = await run(process.execPath, [file], { cwd: clientDir, env });
      expect(stdout.trim(), file).toBe('function function');
    }
    // A strict TypeScript program that uses the SDK's types for real.
    writeFileSync(
      join(clientDir, 'app.ts'),
      [
        "import { BsubClient, type Job } from 'bsubio';",
        'const client = new BsubClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1" });',
        'const status = (job: Job): string => job.status;',
        'export { client, status };',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(clientDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          noEmit: true,
          types: [],
        },
        files: ['app.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await expect(
      run(process.execPath, [tsc, '-p', clientDir], { cwd: clientDir, env }),
    ).resolves.toBeDefined();
  });

  it("passes the Dockerfile's HEALTHCHECK, run as written", async () => {
    for (const stage of ['server', 'single']) {
      const check = STAGES.get(stage)!.find((i) => i.op === 'HEALTHCHECK')!;
      const [, ...command] = /CMD (\[.*\])$/.exec(check.args)!;
      const [bin, ...args] = JSON.parse(command[0]!) as string[];
      expect(bin).toBe('node');
      const port = new URL(url).port;
      await expect(
        run(process.execPath, args, { env: { ...env, BSUBIO_PORT: port } }),
        stage,
      ).resolves.toBeDefined();
      // And it fails when nothing answers, or it would check nothing.
      await expect(run(process.execPath, args, { env: { ...env, BSUBIO_PORT: '1' } })).rejects.toThrow();
    }
  });

  it('creates and owns the data volume before an image drops to USER node', () => {
    for (const [name, steps] of STAGES) {
      const user = steps.findIndex((i) => i.op === 'USER');
      if (user < 0) continue;
      const dataDir = /BSUBIO_DATA_DIR=(\S+)/.exec(steps.find((i) => i.op === 'ENV')?.args ?? '')?.[1];
      expect(dataDir, name).toBeDefined();
      const prepared = steps
        .slice(0, user)
        .some(
          (i) =>
            i.op === 'RUN' &&
            i.args.includes(`mkdir -p ${dataDir}`) &&
            i.args.includes(`chown node:node ${dataDir}`),
        );
      expect(prepared, `${name}: mkdir + chown ${dataDir} before USER`).toBe(true);
      expect(steps.some((i) => i.op === 'VOLUME' && i.args === dataDir)).toBe(true);
    }
  });

  it('runs in the compose files only commands, flags and settings that exist', async () => {
    const help: Record<string, string> = {};
    for (const bin of ['bsubio-server', 'bsubio-worker']) {
      help[bin] = (
        await run('npx', ['--no', '--', bin, '--help'], {
          cwd: bin === 'bsubio-worker' ? workerDir : serverDir,
          env,
        })
      ).stdout;
    }
    help['bsubio-server worker-token'] = (
      await run('npx', ['--no', '--', 'bsubio-server', 'worker-token', '--help'], { cwd: serverDir, env })
    ).stdout;
    for (const file of ['compose.yaml', 'compose.single.yaml']) {
      const compose = parseYaml(readFileSync(join(ROOT, 'deploy', file), 'utf8'), { merge: true }) as {
        services: Record<
          string,
          {
            build?: { target: string };
            command?: string[];
            environment?: Record<string, string>;
            depends_on?: string[] | Record<string, unknown>;
          }
        >;
      };
      const names = Object.keys(compose.services);
      for (const [name, service] of Object.entries(compose.services)) {
        const deps = Array.isArray(service.depends_on)
          ? service.depends_on
          : Object.keys(service.depends_on ?? {});
        for (const dep of deps) expect(names, `${file} ${name} depends_on`).toContain(dep);
        if (!service.build) continue;
        const target = service.build.target;
        expect(STAGES.has(target), `${file} ${name}: target ${target}`).toBe(true);
        const bin = imageEntryPoint(target);
        const command = service.command ?? [];
        // A subcommand's flags are in its own --help; the settings in the main one.
        const commandHelp = command[0] === 'worker-token' ? help['bsubio-server worker-token']! : help[bin]!;
        for (const flag of command.filter((c) => c.startsWith('--')))
          expect(commandHelp, `${file} ${name}`).toContain(flag);
        for (const variable of Object.keys(service.environment ?? {})) {
          if (/^AWS_/.test(variable)) continue;
          expect(help[bin], `${file} ${name}: ${variable}`).toContain(variable);
        }
      }
    }
  });
});
