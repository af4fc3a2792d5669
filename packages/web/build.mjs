/**
 * Bundles the dashboard (src/main.tsx with Preact, signals and the SDK's
 * browser build) into dist/app.js, the one script the server serves.
 * Type-checking is tsc's job (`tsc -b`, no emit); this only bundles, so it
 * runs after the root build has compiled the SDK it imports.
 */
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;

await build({
  absWorkingDir: here,
  entryPoints: ['src/main.tsx'],
  outfile: 'dist/app.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
