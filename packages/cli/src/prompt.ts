/**
 * Questions on stderr, answers from stdin. On a terminal the answer is read
 * in raw mode, so a secret is not echoed; otherwise answers are read a line
 * at a time, so `printf 'key\nurl\n' | bsubio config` works in scripts.
 */
import { createInterface } from 'node:readline';
import { CliError } from './errors.js';

export class Prompter {
  private lines: AsyncIterator<string> | undefined;

  constructor(
    private readonly stdin: NodeJS.ReadStream,
    private readonly stderr: NodeJS.WriteStream,
  ) {}

  async ask(question: string, options: { secret?: boolean } = {}): Promise<string> {
    this.stderr.write(question);
    if (this.stdin.isTTY && typeof this.stdin.setRawMode === 'function') {
      return this.readRaw(Boolean(options.secret));
    }
    this.lines ??= createInterface({ input: this.stdin, crlfDelay: Number.POSITIVE_INFINITY })[
      Symbol.asyncIterator
    ]();
    const next = await this.lines.next();
    if (options.secret) this.stderr.write('\n');
    if (next.done)
      throw new CliError(
        'stdin ended before the answer',
        'Run bsubio config in a terminal, or pipe one answer per line.',
      );
    return next.value.trim();
  }

  close(): void {
    if (this.lines) void this.lines.return?.();
  }

  private readRaw(secret: boolean): Promise<string> {
    const stdin = this.stdin;
    return new Promise((resolve, reject) => {
      let answer = '';
      const finish = (error?: Error) => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        this.stderr.write('\n');
        if (error) reject(error);
        else resolve(answer.trim());
      };
      const onData = (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') return finish();
          if (char === '\u0003') return finish(new CliError('cancelled', 'Nothing was written.'));
          if (char === '\u0004' && answer === '')
            return finish(new CliError('no answer given', 'Nothing was written.'));
          if (char === '\u007f' || char === '\b') {
            if (answer.length > 0) {
              answer = answer.slice(0, -1);
              if (!secret) this.stderr.write('\b \b');
            }
            continue;
          }
          if (char < ' ') continue;
          answer += char;
          if (!secret) this.stderr.write(char);
        }
      };
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onData);
    });
  }
}
