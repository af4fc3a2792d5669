/** A types file with tools that write to stderr over time, for live logs and long jobs. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = {
  mime_in: ['*/*'],
  mime_out: ['text/plain'],
  ext: '.txt',
  display: 'text',
  requires: ['sh', 'sleep', 'cat'],
  limits: { wall_seconds: 120, memory_mb: 256, output_mb: 64 },
};

/** `test/chatty`: three stderr lines `line 1..3`, `pause` seconds apart, then the input. */
export function writeLiveTypesFile(pause = 0.6, longSeconds = 5): string {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-types-'));
  const path = join(dir, 'types.json');
  writeFileSync(
    path,
    JSON.stringify({
      types: [
        {
          ...base,
          type: 'test/chatty',
          name: 'Chatty copy',
          description: 'Writes three log lines over time, then copies the input.',
          command: [
            'sh',
            '-c',
            `for i in 1 2 3; do echo "line $i" >&2; sleep ${pause}; done; cat "$0"`,
            '{input}',
          ],
        },
        {
          ...base,
          type: 'test/long',
          name: 'Long copy',
          description: `Logs a start line, sleeps ${longSeconds}s, then copies the input.`,
          command: ['sh', '-c', `echo started >&2; sleep ${longSeconds}; cat "$0"`, '{input}'],
        },
      ],
    }),
  );
  return path;
}
