// The CommonJS build of the SDK, for `require('bsubio')` from CommonJS code:
// the same sources compiled with module CommonJS into dist/cjs, which a
// package.json of its own marks as CommonJS (the package itself is ESM).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const here = import.meta.dirname;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.cjs.json')], { stdio: 'inherit' });
mkdirSync(join(here, 'dist', 'cjs'), { recursive: true });
writeFileSync(join(here, 'dist', 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
