/**
 * The settings both command lines read the same way (bsubio-server's and
 * bsubio-worker's): a flag wins over its BSUBIO_* variable, integers and log
 * levels are checked with a sentence naming the flag and the variable, and
 * --help is made from the same table. Then bsubio-worker itself, run as
 * users run it, refusing bad values.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AGENT_SETTINGS } from '../src/agent-cli.js';
import {
  parseInteger,
  parseLogLevel,
  SettingError,
  settingName,
  settingsHelp,
  settingValue,
} from '../src/settings.js';

const run = promisify(execFile);
const WORKER_BIN = join(import.meta.dirname, '..', 'bin', 'bsubio-worker.js');

describe('parseInteger', () => {
  const concurrency = settingName('concurrency', 'BSUBIO_WORKER_CONCURRENCY');

  it('reads whole numbers in range, spaces around allowed, and the fallback when not given', () => {
    expect(parseInteger('8', 4, concurrency, 1, 256)).toBe(8);
    expect(parseInteger(' 16 ', 4, concurrency, 1, 256)).toBe(16);
    expect(parseInteger('1', 4, concurrency, 1, 256)).toBe(1);
    expect(parseInteger('256', 4, concurrency, 1, 256)).toBe(256);
    expect(parseInteger(undefined, 4, concurrency, 1, 256)).toBe(4);
    expect(parseInteger('0', 10, '--shutdown-grace-seconds / BSUBIO_SHUTDOWN_GRACE_SECONDS', 0, 86400)).toBe(
      0,
    );
  });

  it.each(['eight', '-1', '0', '257', '1.5', '1e3', '', ' ', '0x10', '8 jobs'])(
    'refuses %j naming the flag, the variable and the range',
    (value) => {
      expect(() => parseInteger(value, 4, concurrency, 1, 256)).toThrow(SettingError);
      expect(() => parseInteger(value, 4, concurrency, 1, 256)).toThrow(
        `--concurrency / BSUBIO_WORKER_CONCURRENCY must be an integer from 1 to 256, not "${value}".`,
      );
    },
  );
});

describe('settingValue', () => {
  it('takes the flag over the variable, the variable without a flag, and an empty variable as unset', () => {
    const env = { BSUBIO_PORT: '8080', BSUBIO_HOST: '' };
    expect(settingValue({ port: '9000' }, env, 'port', 'BSUBIO_PORT')).toBe('9000');
    expect(settingValue({}, env, 'port', 'BSUBIO_PORT')).toBe('8080');
    expect(settingValue({}, env, 'host', 'BSUBIO_HOST')).toBeUndefined();
    expect(settingValue({}, {}, 'host', 'BSUBIO_HOST')).toBeUndefined();
  });
});

describe('parseLogLevel', () => {
  it("takes pino's levels, info by default, and names the others", () => {
    expect(parseLogLevel(undefined, '--log-level / BSUBIO_LOG_LEVEL')).toBe('info');
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      expect(parseLogLevel(level, '--log-level / BSUBIO_LOG_LEVEL')).toBe(level);
    expect(() => parseLogLevel('verbose', '--log-level / BSUBIO_LOG_LEVEL')).toThrow(
      '--log-level / BSUBIO_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not "verbose".',
    );
  });
});

describe('settingsHelp', () => {
  it('lines up flag, variable and text, with the default when there is one', () => {
    expect(
      settingsHelp([
        ['port', 'BSUBIO_PORT', 'TCP port to listen on', '9986'],
        ['token', 'BSUBIO_WORKER_TOKEN', 'worker token (required)', ''],
      ]).split('\n'),
    ).toEqual([
      '  --port    BSUBIO_PORT           TCP port to listen on (default 9986)',
      '  --token   BSUBIO_WORKER_TOKEN   worker token (required)',
    ]);
  });
});

describe('bsubio-worker', () => {
  async function worker(args: string[], env: Record<string, string> = {}) {
    try {
      const { stdout, stderr } = await run(process.execPath, [WORKER_BIN, ...args], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  const required = ['--server', 'http://127.0.0.1:9', '--token', 'bsubw_x_y'];

  it('lists every setting with its variable in --help', async () => {
    const { code, stdout } = await worker(['--help']);
    expect(code).toBe(0);
    for (const [flag, variable] of AGENT_SETTINGS)
      expect(stdout).toMatch(new RegExp(`--${flag} +${variable} `));
  });

  it('refuses bad values from a flag or a variable with exit code 2, before it starts', async () => {
    const flag = await worker([...required, '--concurrency', 'lots']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(
      'bsubio-worker: --concurrency / BSUBIO_WORKER_CONCURRENCY must be an integer from 1 to 256, not "lots".',
    );
    const variable = await worker(required, { BSUBIO_LEASE_SECONDS: '0' });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toContain(
      '--lease-seconds / BSUBIO_LEASE_SECONDS must be an integer from 1 to 3600',
    );
    const level = await worker([...required, '--log-level', 'loud']);
    expect(level.stderr).toContain('--log-level / BSUBIO_LOG_LEVEL must be one of');
    const missing = await worker([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      '--server / BSUBIO_SERVER and --token / BSUBIO_WORKER_TOKEN are required',
    );
    expect(missing.stderr).toContain('Run "bsubio-worker --help" for usage.');
  });
});
