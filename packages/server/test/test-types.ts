/**
 * Types files with shell-script tools that take their time, so tests can act
 * on jobs while they run (cancel, stop the server, follow their logs).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../../test/support/temp-dirs.js';

const base = {
  mime_in: ['*/*'],
  mime_out: ['text/plain'],
  ext: '.txt',
  display: 'text',
  requires: ['sh', 'sleep', 'cat'],
  limits: { wall_seconds: 120, memory_mb: 256, output_mb: 64 },
};

/** A shell-script type: `script` runs with the input file as `$0`. */
export function shellType(type: string, name: string, description: string, script: string) {
  return { ...base, type, name, description, command: ['sh', '-c', script, '{input}'] };
}

/** A types file with exactly these types (full definitions). */
export function writeTypesFile(types: object[]): string {
  const path = join(tempDir('bsubio-types-'), 'types.json');
  writeFileSync(path, JSON.stringify({ types }));
  return path;
}

/** `test/slow`: sleeps `seconds`, then copies the input. */
export function writeSlowTypesFile(seconds: number): string {
  return writeTypesFile([
    shellType(
      'test/slow',
      'Slow copy',
      `Sleeps ${seconds}s, then copies the input.`,
      `sleep ${seconds}; cat "$0"`,
    ),
  ]);
}

/**
 * `test/chatty`: three stderr lines `line 1..3`, `pause` seconds apart, then
 * the input; `test/long`: a start line, `longSeconds` of sleep, then the input.
 */
export function writeLiveTypesFile(pause = 0.6, longSeconds = 5): string {
  return writeTypesFile([
    shellType(
      'test/chatty',
      'Chatty copy',
      'Writes three log lines over time, then copies the input.',
      `for i in 1 2 3; do echo "line $i" >&2; sleep ${pause}; done; cat "$0"`,
    ),
    shellType(
      'test/long',
      'Long copy',
      `Logs a start line, sleeps ${longSeconds}s, then copies the input.`,
      `echo started >&2; sleep ${longSeconds}; cat "$0"`,
    ),
  ]);
}
