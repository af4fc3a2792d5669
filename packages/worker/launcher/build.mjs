// Builds the C sandbox launcher (sandbox-launcher.c) beside its source when
// a C compiler is at hand: `npm run build`, the set-up script and the
// package's install run it. Without a compiler, or when the build fails,
// there is no binary and sandboxes start from the Perl launcher, which does
// the same job at a few milliseconds more per sandbox. Never fails itself:
// an install must not stop for want of a compiler.
import { execFileSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const source = join(import.meta.dirname, 'sandbox-launcher.c');
const target = join(import.meta.dirname, 'sandbox-launcher');
const partial = `${target}.${process.pid}.tmp`;
const compiler = process.env.CC || 'cc';

try {
  execFileSync(compiler, ['-O2', '-Wall', '-o', partial, source], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(partial, target);
} catch (err) {
  rmSync(partial, { force: true });
  // An older build must not outlive its source.
  rmSync(target, { force: true });
  const why =
    err.code === 'ENOENT' ? `no C compiler (${compiler})` : String(err.stderr || err.message).trim();
  console.log(
    `bsubio: the C sandbox launcher was not built (${why.split('\n')[0]}); sandboxes start from the Perl one`,
  );
}
