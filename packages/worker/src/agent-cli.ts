/**
 * `bsubio-worker [flags]`: the remote worker agent's command line. The same
 * command runs as `bsubio-server worker` for those who installed the server.
 * Every flag has a BSUBIO_* environment variable; a flag wins.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultScratchDir, defaultWorkerName, runWorkerAgent } from './agent.js';
import {
  parseInteger,
  parseLogLevel,
  type Setting,
  SettingError,
  settingName,
  settingOptions,
  settingsHelp,
  settingValue,
} from './settings.js';

/** The agent's settings: flag, environment variable, what it is, default. */
export const AGENT_SETTINGS = [
  ['server', 'BSUBIO_SERVER', 'API server(s) to take jobs from: URL[,URL...] (required)', ''],
  ['token', 'BSUBIO_WORKER_TOKEN', 'worker token (required; bsubio-server worker-token add)', ''],
  ['types', 'BSUBIO_WORKER_TYPES', 'types to take: a,b', 'every type installed here'],
  ['concurrency', 'BSUBIO_WORKER_CONCURRENCY', 'jobs at once', 'one per core'],
  ['name', 'BSUBIO_WORKER_NAME', 'shows in claimed_by as <name>-<slot>', 'worker-<host>-<pid>'],
  ['types-file', 'BSUBIO_TYPES_FILE', "extra processing types (the same file as the servers')", 'none'],
  ['lease-seconds', 'BSUBIO_LEASE_SECONDS', 'lease, renewed at a third of it', '15'],
  ['shutdown-grace-seconds', 'BSUBIO_SHUTDOWN_GRACE_SECONDS', 'time running jobs get on SIGTERM', '10'],
  ['scratch-dir', 'BSUBIO_SCRATCH_DIR', 'local scratch space', 'a temp dir, removed on stop'],
  ['log-level', 'BSUBIO_LOG_LEVEL', 'fatal, error, warn, info, debug or silent', 'info'],
] as const satisfies readonly Setting[];
type AgentFlag = (typeof AGENT_SETTINGS)[number][0];

export function agentHelp(program: string): string {
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
${settingsHelp(AGENT_SETTINGS)}
`;
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
        ...settingOptions(AGENT_SETTINGS),
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
  const variable = (flag: AgentFlag) => AGENT_SETTINGS.find(([f]) => f === flag)![1];
  const get = (flag: AgentFlag) => settingValue(values, process.env, flag, variable(flag));
  const name = (flag: AgentFlag) => settingName(flag, variable(flag));
  const integer = (flag: AgentFlag, fallback: number, min: number, max: number) =>
    parseInteger(get(flag), fallback, name(flag), min, max);
  try {
    const servers = (get('server') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const token = get('token');
    if (servers.length === 0 || !token)
      throw new SettingError(`${name('server')} and ${name('token')} are required.`);
    for (const server of servers) {
      if (!/^https?:\/\//.test(server))
        throw new SettingError(`${name('server')} must be an http(s):// URL, not "${server}".`);
    }
    const logLevel = parseLogLevel(get('log-level'), name('log-level'));
    const types = get('types')
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    await runWorkerAgent({
      servers,
      token,
      name: get('name') ?? defaultWorkerName(),
      concurrency: integer('concurrency', availableParallelism(), 1, 256),
      types: types && types.length > 0 ? types : undefined,
      typesFile: get('types-file'),
      leaseMs: integer('lease-seconds', 15, 1, 3600) * 1000,
      graceMs: integer('shutdown-grace-seconds', 10, 0, 86400) * 1000,
      scratchDir: get('scratch-dir') ?? defaultScratchDir(),
      logLevel,
    });
    return 0;
  } catch (err) {
    if (err instanceof SettingError) return fail(err.message.replace(/\.$/, ''));
    process.stderr.write(`${program}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
