/**
 * `bsubio help <command>` against what each command really accepts: every
 * flag the help lists is taken by the real argument parsing (with one dash
 * and with two), a flag it does not list is refused, and every flag of the
 * bsub.io Go CLI is both listed and taken. Runs the built CLI's `main`
 * in-process (the parse fails before any request is made) and, for the
 * output as users see it, as a subprocess. No server is needed.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Io } from '../src/context.js';
import { bsubio, errorOf, homeWith } from './helpers/run.js';

const { main } = (await import('../dist/main.js')) as typeof import('../src/main.js');

const COMMANDS = [
  'config',
  'register',
  'submit',
  'wait',
  'cat',
  'jobs',
  'status',
  'logs',
  'cancel',
  'rm',
  'version',
  'types',
  'bench',
  'completion',
  'quickstart',
  'help',
];

/** The bsub.io Go CLI's flags per command (github.com/bsubio/cli), which bsubio must keep. */
const ORIGINAL_FLAGS: Record<string, string[]> = {
  submit: ['-w', '-o'],
  jobs: ['--status', '--limit'],
  wait: ['-v', '-t'],
  cat: ['-wait'],
  cancel: ['-a', '--all'],
  rm: ['-a'],
  bench: ['-type', '-dir', '-pattern', '-json'],
};

/** Run the CLI in-process; returns the exit code and what it wrote. */
async function cli(argv: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const io = {
    stdin: new PassThrough(),
    stdout,
    stderr,
    env: { HOME: '/nonexistent', BSUBIO_BASE_URL: 'http://127.0.0.1:9' },
  } as unknown as Io;
  const code = await main(argv, io);
  return { code, stdout: out, stderr: err };
}

/** The flags a help text lists: `-w, --wait`, `--status <status>`, `-t <seconds>`. */
function listedFlags(help: string): { names: string[]; takesValue: boolean }[] {
  const section = help.split(/^Flags.*:$/m)[1]!.split(/^\S/m)[0]!;
  return section
    .split('\n')
    .filter((line) => /^ {2}-/.test(line))
    .map((line) => {
      const synopsis = line.trim().split(/ {2,}/)[0]!;
      return {
        names: [...synopsis.matchAll(/--?([a-z][a-z-]*)/g)].map((m) => m[1]!),
        takesValue: /</.test(synopsis),
      };
    });
}

describe('help', () => {
  it('bsubio help lists every command, and each has its own help', async () => {
    const overview = await cli(['help']);
    expect(overview.code).toBe(0);
    for (const name of COMMANDS) {
      expect(overview.stdout).toMatch(new RegExp(`^ {4}${name}\\b`, 'm'));
      const help = await cli(['help', name]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: bsubio ${name}\\b`));
    }
  });

  it.each(COMMANDS)('every flag in "bsubio help %s" is accepted, with one dash or two', async (name) => {
    const help = (await cli(['help', name])).stdout;
    const flags = listedFlags(help);
    expect(flags.map((f) => f.names)).toEqual(expect.arrayContaining([['verbose'], ['debug']]));
    for (const { names, takesValue } of flags) {
      for (const flag of names) {
        for (const dashes of ['-', '--']) {
          // -h after the flag: main parses every flag first, then shows help
          // instead of running, so exit 0 means the flag was taken.
          const argv = [name, `${dashes}${flag}`, ...(takesValue ? ['1'] : []), '-h'];
          const result = await cli(argv);
          expect({ argv, code: result.code, stderr: result.stderr }).toEqual({ argv, code: 0, stderr: '' });
        }
      }
    }
    const refused = await cli([name, '--no-such-flag']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `Error: unknown flag --no-such-flag for 'bsubio ${name}'. Run 'bsubio help ${name}' for its flags.\n`,
    );
  });

  it.each(Object.entries(ORIGINAL_FLAGS))('bsubio %s keeps the Go CLI flags %j', async (name, flags) => {
    const listed = listedFlags((await cli(['help', name])).stdout).flatMap((f) => f.names);
    for (const flag of flags) {
      expect(listed).toContain(flag.replace(/^--?/, ''));
    }
  });

  it('the built bsubio prints the same help for "help submit" and "submit -h", and lists the commands with no arguments', async () => {
    const home = homeWith(undefined);
    const viaHelp = await bsubio(['help', 'submit'], { home });
    const viaFlag = await bsubio(['submit', '--help'], { home });
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toContain('-o, --output <file|dir>');
    // The Go CLI needs -w with -o; here -o implies it, and the help says so.
    expect(viaHelp.stdout).toMatch(
      /-o, --output <file\|dir> +Write the output to this file \(or into this directory\); implies -w/,
    );
    expect(viaHelp.stdout).toContain('-p, --param <key=value>');
    const bare = await bsubio([], { home });
    expect(bare.code).toBe(0);
    expect(bare.stdout).toMatch(/^bsubio - Command line tool for bsub\.io batch processing\n/);
    expect(errorOf(await bsubio(['help', 'frobnicate'], { home }))).toBe(
      "Error: no help available for command: frobnicate. Run 'bsubio help' to list the commands.",
    );
  });

  it('quickstart prints the guide', async () => {
    const result = await cli(['quickstart']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('bsubio submit -w pdf/extract report.pdf');
  });
});

describe('argument parsing', () => {
  it('takes flags after the arguments and with =value, and -- ends the flags', async () => {
    // The parse succeeds (then -h shows help) for each spelling.
    for (const argv of [
      ['submit', 'passthru', 'a.txt', '-w', '-h'],
      ['jobs', '--limit=5', '-status=failed', '-h'],
      ['submit', '-w=false', '-h'],
    ]) {
      expect((await cli(argv)).code).toBe(0);
    }
    const afterDashes = await cli(['submit', '--', 'passthru', '-h']);
    // "-h" after -- is a file name, so the command runs and finds no such file.
    expect(afterDashes.stderr).toBe('Error: input file not found: -h. Check the path and try again.\n');
  });

  it('a usage mistake is one line that points to the help', async () => {
    expect((await cli(['status'])).stderr).toBe(
      "Error: 'bsubio status' takes 1 argument ([flags] <jobid>), got 0. Run 'bsubio help status'.\n",
    );
    expect((await cli(['jobs', '--limit'])).stderr).toBe(
      "Error: flag -limit needs a value <n>. Run 'bsubio help jobs' for its flags.\n",
    );
    expect((await cli(['submti'])).stderr).toBe(
      "Error: unknown command: submti. Did you mean 'submit'? Run 'bsubio help' for usage.\n",
    );
  });
});
