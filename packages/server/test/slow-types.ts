/** A types file with a slow type, so tests can act on jobs while they run. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function writeSlowTypesFile(seconds: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-types-'));
  const path = join(dir, 'types.json');
  writeFileSync(
    path,
    JSON.stringify({
      types: [
        {
          type: 'test/slow',
          name: 'Slow copy',
          description: `Sleeps ${seconds}s, then copies the input.`,
          mime_in: ['*/*'],
          mime_out: ['application/octet-stream'],
          ext: '.bin',
          display: 'download',
          command: ['sh', '-c', `sleep ${seconds}; cat "$0"`, '{input}'],
          requires: ['sh', 'sleep', 'cat'],
          limits: { wall_seconds: 60, memory_mb: 256, output_mb: 64 },
        },
      ],
    }),
  );
  return path;
}
