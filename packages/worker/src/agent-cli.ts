/**
 * `bsubio-worker [flags]`: the remote worker agent's command line. The same
 * command runs as `bsubio-server worker` for those who installed the server.
 * Every flag has a BSUBIO_* environment variable; a flag wins.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultScratchDir, defaultWorkerName, runWorkerAgent } from './agent.js';

/** flag, its value, environment variable, what it is (with the default). */
const FLAGS = [
  ['server', 'URL[,URL]', 'BSUBIO_SERVER', 'API server(s) to take jobs from (required)'],
  ['token', 'TOKEN', 'BSUBIO_WORKER_TOKEN', 'worker token (required; bsubio-server worker-token add)'],
  ['types', 'a,b', 'BSUBIO_WORKER_TYPES', 'types to take (default: every type installed here)'],
  ['concurrency', 'N', 'BSUBIO_WORKER_CONCURRENCY', 'jobs at once (default: one per core)'],
  ['name', 'ID', 'BSUBIO_WORKER_NAME', 'shows in claimed_by as <name>-<slot> (default: worker-<host>-<pid>)'],
  ['types-file', 'FILE', 'BSUBIO_TYPES_FILE', "extra processing types (the same file as the servers')"],
  ['lease-seconds', 'N', 'BSUBIO_LEASE_SECONDS', 'lease, renewed at a third of it (default: 15)'],
  [
    'shutdown-grace-seconds',
    'N',
    'BSUBIO_SHUTDOWN_GRACE_SECONDS',
    'time running jobs get on SIGTERM (default: 10)',
  ],
  ['scratch-dir', 'DIR', 'BSUBIO_SCRATCH_DIR', 'local scratch space (default: a temp dir)'],
  ['log-level', 'LEVEL', 'BSUBIO_LOG_LEVEL', 'fatal, error, warn, info, debug or silent (default: info)'],
] as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function agentHelp(program: string): string {
  const flags = FLAGS.map(
    ([flag, value, variable, text]) => `  --${`${flag} ${value}`.padEnd(32)} ${variable}\n      ${text}`,
  ).join('\n');
  return `Usage: ${program} --server URL[,URL...] --token TOKEN [flags]

Runs a remote worker agent: it claims jobs from the API servers over HTTP
(the /v1/worker/... extension) with a worker token, runs each in the sandbox
like the embedded workers, and streams input, output and live logs over HTTP.
It needs no database or storage credentials. With several URLs (API replicas)
it moves to the next one when a server cannot be reached. SIGTERM or SIGINT
drains: no new claims, running jobs get the grace period, the rest go back to
pending. Prints "Worker <name> ready: ..." on stdout once it runs; logs are
JSON lines on stderr.

Flags (flag, environment variable):
${flags}
`;
}

class UsageError extends Error {}

function integer(
  value: string | undefined,
  fallback: number,
  name: string,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, not "${value}"`);
  }
  return Number(value);
}

/** Runs the agent until it is stopped; the exit code. */
export async function agentMain(argv: string[], program = 'bsubio-worker'): Promise<number> {
  const fail = (problem: string) => {
    process.stderr.write(`${program}: ${problem}.\nRun "${program} --help" for usage.\n`);
    return 2;
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(FLAGS.map(([flag]) => [flag, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
    });
    values = parsed.values;
  } catch (err) {
    return fail((err as Error).message.replace(/\.$/, ''));
  }
  if (values.help) {
    process.stdout.write(agentHelp(program));
    return 0;
  }
  const get = (flag: string): string | undefined => {
    const value = values[flag];
    if (typeof value === 'string') return value;
    const variable = FLAGS.find(([f]) => f === flag)![2];
    return process.env[variable] || undefined;
  };
  try {
    const servers = (get('server') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const token = get('token');
    if (servers.length === 0 || !token) throw new UsageError('--server and --token are required');
    for (const server of servers) {
      if (!/^https?:\/\//.test(server))
        throw new UsageError(`--server must be an http(s):// URL, not "${server}"`);
    }
    const logLevel = get('log-level') ?? 'info';
    if (!LOG_LEVELS.includes(logLevel)) {
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
    }
    const types = get('types')
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    await runWorkerAgent({
      servers,
      token,
      name: get('name') ?? defaultWorkerName(),
      concurrency: integer(get('concurrency'), availableParallelism(), '--concurrency', 1, 256),
      types: types && types.length > 0 ? types : undefined,
      typesFile: get('types-file'),
      leaseMs: integer(get('lease-seconds'), 15, '--lease-seconds', 1, 3600) * 1000,
      graceMs: integer(get('shutdown-grace-seconds'), 10, '--shutdown-grace-seconds', 0, 86400) * 1000,
      scratchDir: get('scratch-dir') ?? defaultScratchDir(),
      logLevel,
    });
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message);
    process.stderr.write(`${program}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
