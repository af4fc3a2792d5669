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
// $CC, else the system's cc, else tcc: the set-up script installs tcc (a
// 300 KiB package) rather than gcc (40 MiB) where there is no compiler.
const compilers = [...new Set([process.env.CC, 'cc', 'gcc', 'tcc'].filter(Boolean))];

/** Undefined once built, else why not (a compiler that fails does not stop the next one). */
function build() {
  const failures = [];
  for (const compiler of compilers) {
    try {
      execFileSync(compiler, ['-O2', '-Wall', '-o', partial, source], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      renameSync(partial, target);
      return undefined;
    } catch (err) {
      rmSync(partial, { force: true });
      if (err.code !== 'ENOENT')
        failures.push(
          `${compiler}: ${
            String(err.stderr || err.message)
              .trim()
              .split('\n')[0]
          }`,
        );
    }
  }
  return failures.length > 0 ? failures.join('; ') : `no C compiler: tried ${compilers.join(', ')}`;
}

const why = build();
if (why !== undefined) {
  // An older build must not outlive its source.
  rmSync(target, { force: true });
  console.log(`bsubio: the C sandbox launcher was not built (${why}); sandboxes start from the Perl one`);
}
