/**
 * Where `submit -o` writes, decided and checked before any job is created:
 * a job that runs for minutes must not end in "EISDIR" or "EACCES".
 *
 * -o names a directory when there are several inputs, when it ends in `/`,
 * or when it is an existing directory; each output is then named after its
 * input with the type's extension (a.pdf → a.txt). Otherwise it is the file.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { CliError } from './errors.js';

export function outputPaths(output: string, files: string[], ext: string): string[] {
  const existing = statOf(output);
  const isDir = files.length > 1 || /[\\/]$/.test(output) || existing?.isDirectory() === true;
  if (!isDir) {
    checkWritableFile(output, existing);
    return [output];
  }
  if (existing && !existing.isDirectory()) {
    throw new CliError(
      `-o ${output} is a file, but with ${files.length > 1 ? 'several inputs' : 'a trailing /'} -o names a directory`,
      'Give a directory (it is created if needed).',
    );
  }
  try {
    mkdirSync(output, { recursive: true });
    accessSync(output, constants.W_OK);
  } catch (error) {
    throw new CliError(
      `cannot write to the output directory ${output} (${(error as NodeJS.ErrnoException).code})`,
      'Choose a directory you may write to.',
    );
  }
  const paths = files.map((file) => {
    const name = file === '-' ? 'stdin' : basename(file, extname(file));
    return join(output, `${name}${ext}`);
  });
  const twice = paths.find((path, i) => paths.indexOf(path) !== i);
  if (twice) {
    throw new CliError(
      `two inputs would both be written to ${twice}`,
      'Give inputs with different names, or submit them separately.',
    );
  }
  for (const path of paths) checkWritableFile(path, statOf(path));
  return paths;
}

function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function checkWritableFile(path: string, existing: ReturnType<typeof statOf>): void {
  if (existing?.isDirectory()) {
    throw new CliError(`-o ${path} is a directory`, 'Name a file, or end -o with / to write into it.');
  }
  const target = existing ? path : dirname(path);
  try {
    accessSync(target, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `cannot write ${path}: the directory ${dirname(path)} does not exist`
        : `cannot write ${path} (${code})`,
      code === 'ENOENT' ? 'Create it first, or choose another -o.' : 'Choose a place you may write to.',
    );
  }
}
