/**
 * A type that needs a Node package (`requires: ["npm:NAME"]`) is available
 * only when the package resolves, with what it loads: the typst compiler and
 * its binary for this platform, as npm installed them with @bsubio/worker;
 * otherwise GET /v1/types says what is missing. Packages laid out here in a
 * scratch node_modules stand in for what npm may leave out.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Catalog, parseTypeDefinition } from '../src/catalog.js';
import { hostDirForNobody, resolveNodePackage } from '../src/node-packages.js';

const root = mkdtempSync(join(tmpdir(), 'bsubio-node-packages-'));
// mkdtemp makes it 0700; packages under it are to be reachable by any user unless a test closes a dir.
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A project dir with these packages (name → package.json fields) in its node_modules. */
function project(name: string, packages: Record<string, Record<string, unknown>>): string {
  const dir = join(root, name);
  for (const [pkg, manifest] of Object.entries(packages)) {
    mkdirSync(join(dir, 'node_modules', pkg), { recursive: true });
    writeFileSync(join(dir, 'node_modules', pkg, 'package.json'), JSON.stringify({ name: pkg, ...manifest }));
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{}');
  return dir;
}

describe('resolveNodePackage', () => {
  it('finds the typst compiler installed with @bsubio/worker, and its binary for this platform', () => {
    const found = resolveNodePackage('@myriaddreamin/typst-ts-node-compiler');
    expect(found.ok, JSON.stringify(found)).toBe(true);
    if (!found.ok) return;
    const names = found.packages.map((p) => p.name);
    expect(names[0]).toBe('@myriaddreamin/typst-ts-node-compiler');
    const binary = found.packages.find((p) => p.name.startsWith('@myriaddreamin/typst-ts-node-compiler-'));
    expect(binary?.name, names.join(', ')).toContain(`-${process.platform}-${process.arch}`);
    expect(existsSync(join(binary?.dir ?? '', 'package.json'))).toBe(true);
  });

  it('names what is missing: the package, a dependency of it, or a native binary', () => {
    const dir = project('partial', {
      'needs-dep': { dependencies: { 'absent-dep': '1.0.0' } },
      'napi-without-binary': { napi: {}, optionalDependencies: { 'napi-without-binary-linux-x64': '1.0.0' } },
      'napi-with-binary': {
        napi: {},
        optionalDependencies: { 'napi-with-binary-x': '1', 'napi-with-binary-y': '1' },
      },
      'napi-with-binary-y': {},
    });
    expect(resolveNodePackage('no-such-package-xyz', dir)).toEqual({
      ok: false,
      reason: 'the Node package no-such-package-xyz',
    });
    expect(resolveNodePackage('needs-dep', dir)).toEqual({
      ok: false,
      reason: 'the Node package absent-dep',
    });
    const noBinary = resolveNodePackage('napi-without-binary', dir);
    expect(noBinary.ok).toBe(false);
    if (!noBinary.ok)
      expect(noBinary.reason).toBe(
        `the Node package napi-without-binary's binary for ${process.platform}-${process.arch} (none of its optional dependencies is installed)`,
      );
    // An optional dependency npm left out (another platform's binary) is no loss.
    expect(resolveNodePackage('napi-with-binary', dir)).toEqual({
      ok: true,
      packages: [
        { name: 'napi-with-binary', dir: join(dir, 'node_modules', 'napi-with-binary') },
        { name: 'napi-with-binary-y', dir: join(dir, 'node_modules', 'napi-with-binary-y') },
      ],
    });
  });
});

describe('a catalog type that requires a Node package', () => {
  const definition = (requires: string[]) =>
    parseTypeDefinition(
      {
        type: 'needs/node-package',
        mime_in: ['text/plain'],
        mime_out: ['application/pdf'],
        command: ['{node}', '{tools}/x.mjs', '{input}'],
        requires,
      },
      'test',
    );

  it('is available with the packages to bind when the package resolves', () => {
    const entry = new Catalog([definition(['npm:@myriaddreamin/typst-ts-node-compiler'])]).resolve(
      'needs/node-package',
    );
    expect(entry?.available).toBe(true);
    expect(entry?.nodePackages.map((p) => p.name)).toContain('@myriaddreamin/typst-ts-node-compiler');
  });

  it('is unavailable, saying which package to install, when it does not', () => {
    const catalog = new Catalog([definition(['sh', 'npm:no-such-package-xyz'])]);
    expect(catalog.resolve('needs/node-package')).toMatchObject({
      available: false,
      missing: ['the Node package no-such-package-xyz'],
      nodePackages: [],
    });
    expect(catalog.describe()[0]).toMatchObject({
      available: false,
      install_hint: 'Install the Node package no-such-package-xyz.',
    });
  });
});

describe('hostDirForNobody', () => {
  it("binds a package in place when any user can reach it, else a copy the sandbox's user can", async () => {
    const open = project('open', { 'open-pkg': { version: '1.0.0' } });
    const closedHome = join(root, 'closed-home');
    const closed = project('closed-home/app', { 'closed-pkg': { version: '1.0.0' } });
    chmodSync(closedHome, 0o700);
    const base = join(root, 'sandbox-base');
    mkdirSync(base);
    const openPkg = { name: 'open-pkg', dir: join(open, 'node_modules', 'open-pkg') };
    const closedPkg = { name: 'closed-pkg', dir: join(closed, 'node_modules', 'closed-pkg') };
    expect(await hostDirForNobody(openPkg.dir, join('node_modules', openPkg.name), async () => base)).toBe(
      openPkg.dir,
    );
    // The server runs with umask 077: the folders made for the copy must still let others through.
    const umask = process.umask(0o077);
    let copy: string;
    try {
      copy = await hostDirForNobody(closedPkg.dir, join('node_modules', closedPkg.name), async () => base);
    } finally {
      process.umask(umask);
    }
    expect(copy).toBe(join(base, 'node_modules', 'closed-pkg'));
    expect(readFileSync(join(copy, 'package.json'), 'utf8')).toContain('closed-pkg');
    for (const dir of [join(base, 'node_modules'), copy])
      expect(statSync(dir).mode & 0o001, `${dir} searchable by others`).toBe(0o001);
    expect(statSync(join(copy, 'package.json')).mode & 0o004).toBe(0o004);
  });
});
