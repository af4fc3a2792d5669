/**
 * Command-line settings, one way for `bsubio-server` and `bsubio-worker`:
 * each is a flag and a BSUBIO_* environment variable (a flag wins over the
 * variable, an empty variable counts as unset), listed once in a table that
 * gives both parseArgs' options and the --help lines, and read with messages
 * that name the flag and the variable, since the value may come from either.
 * The server imports this from @bsubio/worker (never the other way round).
 */

/** flag (without --), environment variable, what it is, its default as --help shows it ('' for none). */
export type Setting = readonly [flag: string, variable: string, text: string, fallback: string];

/** A bad value for a setting: the caller's mistake, said in one sentence. */
export class SettingError extends Error {
  override name = 'SettingError';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** parseArgs options for the table's flags: each takes a string. */
export function settingOptions(table: readonly Setting[]): Record<string, { type: 'string' }> {
  return Object.fromEntries(table.map(([flag]) => [flag, { type: 'string' as const }]));
}

/** The --help lines: flag, variable, text and default in columns. */
export function settingsHelp(table: readonly Setting[]): string {
  const flagWidth = Math.max(...table.map(([flag]) => flag.length)) + 2;
  const variableWidth = Math.max(...table.map(([, variable]) => variable.length)) + 2;
  return table
    .map(
      ([flag, variable, text, fallback]) =>
        `  --${flag.padEnd(flagWidth)} ${variable.padEnd(variableWidth)} ${text}${fallback ? ` (default ${fallback})` : ''}`,
    )
    .join('\n');
}

/** How a message names a setting: both ways to give it. */
export function settingName(flag: string, variable: string): string {
  return `--${flag} / ${variable}`;
}

/** The flag's value, else the variable's; undefined when neither is given. */
export function settingValue(
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  flag: string,
  variable: string,
): string | undefined {
  const fromFlag = flags[flag];
  if (typeof fromFlag === 'string') return fromFlag;
  const fromEnv = env[variable];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** A whole number from min to max (surrounding spaces allowed), or the fallback when not given. */
export function parseInteger(
  value: string | undefined,
  fallback: number,
  name: string,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const number = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || number < min || number > max) {
    throw new SettingError(`${name} must be an integer from ${min} to ${max}, not "${value}".`);
  }
  return number;
}

/** One of pino's levels, info when not given. */
export function parseLogLevel(value: string | undefined, name: string): string {
  if (value === undefined) return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new SettingError(`${name} must be one of ${LOG_LEVELS.join(', ')}, not "${value}".`);
  }
  return value;
}
