/**
 * The CLI's two small parsers on their own: flags as the Go CLI's users type
 * them, and `--param key=value` against a type's declared parameters.
 */
import type { ProcessingType } from 'bsubio';
import { describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import { type FlagSpec, parseFlags } from '../src/flags.js';
import { parseParams } from '../src/params.js';

const SPECS: FlagSpec[] = [
  { name: 'json', type: 'boolean', description: 'JSON output' },
  { name: 'wait', short: 'w', type: 'boolean', description: 'wait' },
  { name: 'type', short: 't', type: 'string', value: '<type>', description: 'processing type' },
  { name: 'param', short: 'p', type: 'string', repeatable: true, description: 'key=value' },
];

describe('parseFlags', () => {
  it('takes a flag with one dash or two, a value after it or after =', () => {
    for (const argv of [
      ['-json', '-type', 'pdf/extract'],
      ['--json', '--type=pdf/extract'],
      ['-json=true', '-t', 'pdf/extract'],
    ]) {
      expect(parseFlags(argv, SPECS, 'submit')).toEqual({
        flags: { json: true, type: 'pdf/extract' },
        args: [],
      });
    }
  });

  it('lets flags and arguments come in any order, and a boolean be set false', () => {
    expect(parseFlags(['a.pdf', '-w', 'b.pdf', '--json=false'], SPECS, 'submit')).toEqual({
      flags: { wait: true, json: false },
      args: ['a.pdf', 'b.pdf'],
    });
  });

  it('collects every value of a repeatable flag', () => {
    expect(parseFlags(['-p', 'a=1', '--param=b=2'], SPECS, 'submit').flags.param).toEqual(['a=1', 'b=2']);
  });

  it('ends the flags at --, and takes a lone - as an argument (stdin)', () => {
    expect(parseFlags(['-', '--', '-json'], SPECS, 'submit')).toEqual({ flags: {}, args: ['-', '-json'] });
  });

  it('refuses an unknown flag, a boolean that is neither true nor false, a value that is missing', () => {
    const refusal = (argv: string[]) => {
      try {
        parseFlags(argv, SPECS, 'submit');
      } catch (error) {
        expect(error).toBeInstanceOf(CliError);
        return (error as Error).message;
      }
      throw new Error(`${argv.join(' ')} was accepted`);
    };
    expect(refusal(['-nope'])).toMatch(/unknown flag -nope for 'bsubio submit'/);
    expect(refusal(['-json=maybe'])).toMatch(/true or false, not "maybe"/);
    expect(refusal(['-type'])).toMatch(/needs a value <type>/);
  });
});

describe('parseParams (CLI)', () => {
  const spec = {
    type: 'image/convert',
    params: [
      { name: 'width', type: 'integer', description: 'pixels' },
      { name: 'format', type: 'enum', values: ['png', 'jpg'], description: 'format' },
    ],
  } as unknown as ProcessingType;

  it('sends declared integers as numbers and everything else as given', () => {
    expect(parseParams(['width=640', 'format=png', 'other=7'], spec)).toEqual({
      width: 640,
      format: 'png',
      other: '7',
    });
  });

  it('leaves a bad integer to the server, which knows the rules, and keeps = in a value', () => {
    expect(parseParams(['width=wide', 'format=a=b'], spec)).toEqual({ width: 'wide', format: 'a=b' });
    expect(parseParams(['width=-3'], spec)).toEqual({ width: -3 });
  });

  it('refuses what is not key=value', () => {
    expect(() => parseParams(['width'], spec)).toThrow(/--param takes key=value, not "width"/);
    expect(() => parseParams(['=5'], spec)).toThrow(CliError);
  });
});
