// Pretty-prints the JSON file named by argv[2] to stdout. On invalid JSON it
// writes one line to stderr naming the line and column of the first error,
// and exits 1. (V8's own messages do not always give a position, and may
// quote the input across several lines, so the position is found here.)
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8').replace(/^\uFEFF/, '');

try {
  process.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
} catch {
  const { offset, expected } = locateError(text);
  const before = text.slice(0, offset).split('\n');
  const found = offset >= text.length ? 'the end of the input' : JSON.stringify(text[offset]);
  process.stderr.write(
    `invalid JSON at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}: expected ${expected}, found ${found}\n`,
  );
  process.exit(1);
}

/** A small recursive-descent scan that stops at the first offending character. */
function locateError(src) {
  let i = 0;
  class Stop extends Error {
    constructor(expected) {
      super(expected);
      this.expected = expected;
    }
  }
  const ws = () => {
    while (i < src.length && ' \t\n\r'.includes(src[i])) i++;
  };
  const literal = (word) => {
    for (const ch of word) {
      if (src[i] !== ch) throw new Stop(`"${word}"`);
      i++;
    }
  };
  const string = () => {
    i++;
    while (i < src.length && src[i] !== '"') {
      if (src[i] === '\\') {
        i++;
        if (!'"\\/bfnrtu'.includes(src[i] ?? '')) throw new Stop('a valid escape');
      } else if (src.charCodeAt(i) < 0x20) {
        throw new Stop('a closing quote');
      }
      i++;
    }
    if (src[i] !== '"') throw new Stop('a closing quote');
    i++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
    if (!match) throw new Stop('a number');
    i += match[0].length;
  };
  const value = () => {
    ws();
    const ch = src[i];
    if (ch === '{') {
      i++;
      ws();
      if (src[i] === '}') return void i++;
      for (;;) {
        ws();
        if (src[i] !== '"') throw new Stop('a property name in double quotes');
        string();
        ws();
        if (src[i] !== ':') throw new Stop('":"');
        i++;
        value();
        ws();
        if (src[i] === ',') i++;
        else if (src[i] === '}') return void i++;
        else throw new Stop('"," or "}"');
      }
    }
    if (ch === '[') {
      i++;
      ws();
      if (src[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (src[i] === ',') i++;
        else if (src[i] === ']') return void i++;
        else throw new Stop('"," or "]"');
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || (ch >= '0' && ch <= '9')) return number();
    throw new Stop('a value');
  };
  try {
    value();
    ws();
    if (i < src.length) throw new Stop('the end of the input');
    return { offset: i, expected: 'valid JSON' };
  } catch (err) {
    if (err instanceof Stop) return { offset: i, expected: err.expected };
    throw err;
  }
}
