/**
 * Every command, in the order `bsubio help` lists them. A function, not a
 * constant: help and completion list the commands and are commands
 * themselves, so the list is built when asked for, after every module loaded.
 */
import type { Command } from './command.js';
import { bench } from './commands/bench.js';
import { cancel } from './commands/cancel.js';
import { cat } from './commands/cat.js';
import { completion } from './commands/completion.js';
import { config } from './commands/config.js';
import { help } from './commands/help.js';
import { jobs } from './commands/jobs.js';
import { logs } from './commands/logs.js';
import { quickstart } from './commands/quickstart.js';
import { register } from './commands/register.js';
import { rm } from './commands/rm.js';
import { status } from './commands/status.js';
import { submit } from './commands/submit.js';
import { types } from './commands/types.js';
import { version } from './commands/version.js';
import { wait } from './commands/wait.js';

export const commands = (): readonly Command[] => [
  config,
  register,
  submit,
  wait,
  cat,
  jobs,
  status,
  logs,
  cancel,
  rm,
  version,
  types,
  bench,
  completion,
  quickstart,
  help,
];

export function findCommand(name: string): Command | undefined {
  return commands().find((c) => c.name === name);
}
