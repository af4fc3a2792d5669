// Pretty-prints the JSON file named by argv[2] to stdout. On invalid JSON it
// writes one line to stderr naming the line and column, and exits 1.
import { readFileSync } from 'node:fs';

const path = process.argv[2];
const text = readFileSync(path, 'utf8');
try {
  process.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  const match = /position (\d+)/.exec(message);
  let where = 'at the end of the input';
  if (match) {
    const offset = Number(match[1]);
    const before = text.slice(0, offset).split('\n');
    where = `at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
  } else if (text.trim() === '') {
    where = 'in an empty input';
  }
  process.stderr.write(`invalid JSON ${where}: ${message}\n`);
  process.exit(1);
}
