/**
 * typst/pdf: a Typst document or project to PDF with the typst compiler of
 * @myriaddreamin/typst-ts-node-compiler (bound read-only into the sandbox by
 * the runner, from @bsubio/worker's optional dependency). The project root is
 * the files directory: read(), include and image() reach nothing outside it.
 * Fonts: the compiler's own (Libertinus, New Computer Modern, DejaVu Sans
 * Mono) and the system's under /usr/share/fonts. The sandbox has no network,
 * so @preview packages cannot be downloaded; that error says so.
 * Diagnostics go to stderr as FILE:LINE:COLUMN: message, the PDF to stdout.
 * Usage: node typst-pdf.mjs FILES_DIR MAIN ("auto" or a path in the project)
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';

const [root, mainParam] = process.argv.slice(2);
const fail = (message) => {
  process.stderr.write(`bsubio: ${message}\n`);
  process.exit(2);
};

/** The main file: the main parameter, else main.typ, else the only .typ file at the top. */
function mainFile() {
  if (mainParam && mainParam !== 'auto') {
    if (!existsSync(join(root, mainParam))) fail(`the main file ${mainParam} is not in the project.`);
    return mainParam;
  }
  if (existsSync(join(root, 'main.typ'))) return 'main.typ';
  const typ = readdirSync(root)
    .filter((n) => n.endsWith('.typ') && statSync(join(root, n)).isFile())
    .sort();
  if (typ.length !== 1)
    fail(
      typ.length === 0
        ? 'the project has no .typ file at its top level.'
        : `several .typ files (${typ.join(', ')}): name the main one main.typ, or give the main parameter.`,
    );
  return typ[0];
}

/** The compiler says "--root" (its CLI's flag); here the project is all there is. */
function readable(message) {
  const download = /failed to download package \(.*?\/(preview|[a-z]+)\/([^/]+?)-(\d[^/]*?)\.tar\.gz/.exec(
    message,
  );
  if (download) {
    const [, namespace, name, version] = download;
    return `the package @${namespace}/${name}:${version} cannot be downloaded: jobs run without network. Put its files in the project and import them by path.`;
  }
  return message.replace(/, you can adjust the project root with the --root argument/, '');
}

function report(compiler, error, severityWanted) {
  let diagnostics;
  try {
    diagnostics = compiler.fetchDiagnostics(error);
  } catch {
    diagnostics = error.shortDiagnostics ?? [];
  }
  for (const d of diagnostics) {
    const severity = d.severity === 1 ? 'error' : 'warning';
    if (severityWanted && severity !== severityWanted) continue;
    const file = d.path ? relative(root, d.path) || d.path : '';
    const at = d.range ? `:${d.range.start.line + 1}:${d.range.start.character + 1}` : '';
    const where = d.package ? `${d.package} ${file}` : file;
    process.stderr.write(`${where}${at}: ${severity}: ${readable(String(d.message))}\n`);
  }
  return diagnostics.length;
}

const main = mainFile();
let NodeCompiler;
try {
  ({ NodeCompiler } = createRequire(import.meta.url)('@myriaddreamin/typst-ts-node-compiler'));
} catch (err) {
  fail(`the typst compiler does not load here: ${err.message}`);
}
const compiler = NodeCompiler.create({ workspace: root });
const result = compiler.compile({ mainFilePath: join(root, main) });
const warnings = result.takeWarnings();
if (warnings) report(compiler, warnings, 'warning');
const error = result.takeError();
if (error || !result.result) {
  const shown = error ? report(compiler, error) : 0;
  if (shown === 0) process.stderr.write(`${main}: error: ${error ? error.kind : 'no document'}\n`);
  process.stderr.write(`bsubio: typst stopped with ${shown === 1 ? 'an error' : 'errors'}; see above.\n`);
  process.exit(1);
}
process.stdout.write(compiler.pdf(result.result));
