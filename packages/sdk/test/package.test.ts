/**
 * What `npm pack` puts in the tarball is exactly what a user needs: the
 * README, package.json, and for every source module its compiled JS and its
 * declarations, as ES modules and (under dist/cjs) as CommonJS — no sources,
 * tests, source maps or build info. And the package's entry points all exist
 * in it.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PACKAGE_DIR = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8'));

let packed: Promise<string[]> | undefined;
/** The tarball's file list, from one `npm pack --dry-run` per run. */
function packedFiles(): Promise<string[]> {
  packed ??= run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE_DIR }).then(
    ({ stdout }) => {
      const [report] = JSON.parse(stdout) as [{ name: string; files: { path: string }[] }];
      expect(report.name).toBe('bsubio');
      return report.files.map((f) => f.path).sort();
    },
  );
  return packed;
}

describe('the published package', () => {
  it('contains README, package.json and the JS and declarations of every module, nothing else', async () => {
    const modules = readdirSync(join(PACKAGE_DIR, 'src'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, ''));
    const expected = [
      'README.md',
      'package.json',
      'dist/cjs/package.json',
      ...modules.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`, `dist/cjs/${m}.js`, `dist/cjs/${m}.d.ts`]),
    ].sort();
    expect(await packedFiles()).toEqual(expected);
  });

  it('points every export condition at a file in the tarball', async () => {
    const files = new Set(await packedFiles());
    const leaves = (value: unknown): string[] =>
      typeof value === 'string' ? [value] : Object.values(value as object).flatMap(leaves);
    const targets = [pkg.main, pkg.types, pkg.browser, ...leaves(pkg.exports['.'])];
    for (const target of targets) expect(files, target).toContain(target.replace(/^\.\//, ''));
  });

  it('has no runtime dependency beyond the protocol types, and its JS imports nothing outside itself', () => {
    expect(Object.keys(pkg.dependencies ?? {})).toEqual(['@bsubio/protocol']);
    const dist = join(PACKAGE_DIR, 'dist');
    for (const file of readdirSync(dist).filter((f) => f.endsWith('.js'))) {
      const source = readFileSync(join(dist, file), 'utf8');
      const specifiers = [...source.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'/g)].map(
        (m) => m[1] ?? m[2],
      );
      for (const specifier of specifiers) {
        // Relative modules of the SDK itself, and Node built-ins only in the Node platform module.
        const allowed =
          specifier!.startsWith('./') || (file === 'platform-node.js' && specifier!.startsWith('node:'));
        expect(allowed, `${file} imports ${specifier}`).toBe(true);
      }
    }
  });
});
