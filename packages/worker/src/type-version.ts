/**
 * A version of a processing type, for the result cache: a hash of its
 * catalog definition and of what identifies the tools it runs, so that a
 * changed definition or an upgraded tool gives another version (and the
 * cache misses). Running each tool with --version would cost seconds
 * (LibreOffice, whisper); what identifies an installed tool cheaply is its
 * file: where PATH finds it, its size and modification time (a package
 * upgrade replaces the file). Helper scripts ({tools}/...) count by their
 * bytes, {node} by Node's version, an `npm:` requirement by its package's version.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOOLS_DIR, type TypeDefinition } from './catalog.js';

const workerRoot = fileURLToPath(new URL('..', import.meta.url));

/** JSON with object keys sorted, so that equal definitions hash alike whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The file that runs for `name`: itself when a path, else the first on PATH. */
function locate(name: string): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '/usr/bin:/bin')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name));
  for (const path of candidates) {
    try {
      const real = realpathSync(path);
      if (statSync(real).isFile()) return real;
    } catch {
      // Not there; the next one.
    }
  }
  return undefined;
}

function fileIdentity(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

function npmVersion(name: string): string {
  try {
    const manifest = createRequire(join(workerRoot, 'package.json')).resolve(`${name}/package.json`);
    return `${name}@${(JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version}`;
  } catch {
    return `${name}@?`;
  }
}

/** What identifies each tool the type runs, in a stable order. */
function toolIdentities(definition: TypeDefinition): string[] {
  const ids: string[] = [];
  for (const required of definition.requires) {
    if (required.startsWith('npm:')) ids.push(npmVersion(required.slice(4)));
    else {
      const path = locate(required);
      ids.push(path ? fileIdentity(path) : `${required}:missing`);
    }
  }
  const argv = [...definition.command, ...Object.values(definition.env ?? {})];
  if (argv.some((arg) => arg.includes('{node}'))) ids.push(`node:${process.version}`);
  for (const arg of argv) {
    const script = /\{tools\}\/([\w./-]+)/.exec(arg)?.[1];
    if (!script || script.includes('..')) continue;
    try {
      ids.push(
        `${script}:${createHash('sha256')
          .update(readFileSync(join(TOOLS_DIR, script)))
          .digest('hex')}`,
      );
    } catch {
      ids.push(`${script}:missing`);
    }
  }
  const tool = definition.command[0];
  if (tool && !tool.startsWith('{') && !definition.requires.includes(tool)) {
    const path = locate(tool);
    ids.push(path ? fileIdentity(path) : `${tool}:missing`);
  }
  return ids;
}

/** SHA-256 (hex) of the type's definition and tools: changes when either does. */
export function typeVersion(definition: TypeDefinition): string {
  return createHash('sha256')
    .update(canonical({ definition, tools: toolIdentities(definition) }))
    .digest('hex');
}
