/**
 * The processing-type catalog: types are data (catalog/builtin.json plus an
 * operator's file named by BSUBIO_TYPES_FILE), never code. This module loads
 * and checks them, resolves aliases and tells whether each tool is installed.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParamSpec, ProcessingType } from '@bsubio/protocol';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from './archive.js';
import { type NodePackage, NPM_REQUIREMENT, resolveNodePackage } from './node-packages.js';

export interface TypeLimits {
  /** Wall-clock seconds before the tool is killed (ETIMEDOUT). */
  wall_seconds: number;
  /** Address-space ceiling in MiB (ENOMEM). */
  memory_mb: number;
  /** Largest stdout kept, in MiB (EFBIG). */
  output_mb: number;
  /**
   * Room for the files the tool writes in /work and /tmp together, in MiB
   * (EFBIG past it). It lives in memory (a tmpfs), so the job's memory cgroup
   * allows memory_mb plus this. Default: output_mb.
   */
  scratch_mb?: number;
  /** CPU cores the job may use at most (a cgroup CPU quota); default: no cap. */
  cpus?: number;
}

/** Optional limits: checked like the others, no default value. */
const OPTIONAL_LIMITS = ['scratch_mb', 'cpus'] as const;

export interface TypeDefinition {
  type: string;
  name: string;
  description: string;
  mime_in: string[];
  mime_out: string[];
  ext: string;
  display: string;
  example: { cmd: string; desc: string };
  /** argv with placeholders: {input}, {files}, {tools}, {node}, {param:NAME}. Empty for a builtin. */
  command: string[];
  /**
   * Work done without a tool, in the worker itself: `identity` answers the
   * input unchanged (passthru), so no process, sandbox or copy is needed.
   */
  builtin?: Builtin;
  /**
   * What must be installed for the type to be available: executables on
   * PATH, absolute paths that must exist (a model, a data file), or
   * `npm:NAME`, a Node package that resolves from @bsubio/worker; such a
   * package (with what it loads) is bound read-only into the sandbox, where
   * the {tools} scripts import it by name.
   */
  requires: string[];
  /** The Debian package that provides them, named when unavailable. */
  package?: string;
  /** What to do when the tool is missing, when no Debian package provides it. */
  install_hint?: string;
  aliases?: string[];
  /**
   * When a parameter picks the output format (image/convert's `format`): its
   * value → the output's MIME type and extension. See outputFormat().
   */
  output_by_param?: { param: string; formats: Record<string, { mime: string; ext: string }> };
  /** Extra environment inside the sandbox; values take the same placeholders as `command`. */
  env?: Record<string, string>;
  limits: TypeLimits;
  params?: ParamSpec[];
  /**
   * The submit answer waits up to this long for the job to end. Only for
   * types done in well under a second (test/linecount): the official SDKs'
   * live tests read the result straight after submit, as bsub.io allows.
   */
  submit_waits_seconds?: number;
  /**
   * The output depends only on the input and the params (no clock, no
   * randomness, no network), so a finished job's result may answer a later
   * job with the same input, type and params (the server's result cache).
   * Absent: false, so an operator's type is never cached unless it says so.
   */
  cacheable?: boolean;
  /**
   * The type takes several files in one job: a zip or tar input is unpacked
   * (with archive.ts's guards) into /in/files, the {files} placeholder; a
   * single file is put there alone.
   */
  archive_in?: UnpackLimits;
  /**
   * Host paths the tool needs besides the sandbox's usual system view, bound
   * read-only at the same place: a part of /etc (LibreOffice's, Ghostscript's,
   * TeX's configuration) or of /var (TeX's formats). Missing ones are skipped.
   */
  binds?: string[];
}

export const BUILTINS = ['identity'] as const;
export type Builtin = (typeof BUILTINS)[number];

export const DEFAULT_LIMITS: TypeLimits = { wall_seconds: 300, memory_mb: 1024, output_mb: 1024 };

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
export const BUILTIN_CATALOG_PATH = join(packageRoot, 'catalog', 'builtin.json');
/** Helper scripts that commands reach through the {tools} placeholder. */
export const TOOLS_DIR = join(packageRoot, 'tools');

export class CatalogError extends Error {
  override name = 'CatalogError';
}

function requireString(obj: Record<string, unknown>, key: string, where: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || value === '')
    throw new CatalogError(`${where}: "${key}" must be a non-empty string`);
  return value;
}

function requireStrings(
  obj: Record<string, unknown>,
  key: string,
  where: string,
  optional = false,
): string[] {
  const value = obj[key];
  if (value === undefined && optional) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new CatalogError(`${where}: "${key}" must be an array of strings`);
  }
  return value as string[];
}

function parseLimits(value: unknown, where: string): TypeLimits {
  if (value === undefined) return { ...DEFAULT_LIMITS };
  if (typeof value !== 'object' || value === null)
    throw new CatalogError(`${where}: "limits" must be an object`);
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof TypeLimits)[]) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0))
      throw new CatalogError(`${where}: "limits.${key}" must be a positive number`);
    limits[key] = v;
  }
  for (const key of OPTIONAL_LIMITS) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0))
      throw new CatalogError(`${where}: "limits.${key}" must be a positive number`);
    limits[key] = v;
  }
  return limits;
}

/** `true`, or `{max_entries, max_mb, max_ratio}` over the defaults. */
function parseArchiveIn(value: unknown, where: string): UnpackLimits {
  const limits = { ...DEFAULT_UNPACK_LIMITS };
  if (value === true) return limits;
  if (typeof value !== 'object' || value === null)
    throw new CatalogError(`${where}: "archive_in" must be true or {max_entries, max_mb, max_ratio}`);
  const v = value as Record<string, unknown>;
  const positive = (key: string): number | undefined => {
    if (v[key] === undefined) return undefined;
    if (typeof v[key] !== 'number' || !((v[key] as number) > 0))
      throw new CatalogError(`${where}: "archive_in.${key}" must be a positive number`);
    return v[key] as number;
  };
  limits.maxEntries = positive('max_entries') ?? limits.maxEntries;
  const mb = positive('max_mb');
  if (mb !== undefined) limits.maxBytes = mb * 1024 * 1024;
  limits.maxRatio = positive('max_ratio') ?? limits.maxRatio;
  return limits;
}

/** Check one raw catalog entry and give it its defaults. */
export function parseTypeDefinition(raw: unknown, where: string): TypeDefinition {
  if (typeof raw !== 'object' || raw === null)
    throw new CatalogError(`${where}: each type must be an object`);
  const obj = raw as Record<string, unknown>;
  const type = requireString(obj, 'type', where);
  const at = `${where} type "${type}"`;
  const builtin = obj.builtin;
  if (builtin !== undefined && !BUILTINS.includes(builtin as Builtin))
    throw new CatalogError(`${at}: "builtin" must be one of ${BUILTINS.join(', ')}`);
  const command = requireStrings(obj, 'command', at, builtin !== undefined);
  if (command.length === 0 && builtin === undefined)
    throw new CatalogError(`${at}: "command" must not be empty`);
  if (command.length > 0 && builtin !== undefined)
    throw new CatalogError(`${at}: give either "command" or "builtin", not both`);
  const example = obj.example as Record<string, unknown> | undefined;
  const definition: TypeDefinition = {
    type,
    name: typeof obj.name === 'string' ? obj.name : type,
    description: typeof obj.description === 'string' ? obj.description : '',
    mime_in: requireStrings(obj, 'mime_in', at),
    mime_out: requireStrings(obj, 'mime_out', at),
    ext: typeof obj.ext === 'string' ? obj.ext : '.bin',
    display: typeof obj.display === 'string' ? obj.display : 'download',
    example: {
      cmd: typeof example?.cmd === 'string' ? example.cmd : `bsubio submit ${type} input`,
      desc: typeof example?.desc === 'string' ? example.desc : '',
    },
    command,
    requires: requireStrings(obj, 'requires', at, true),
    limits: parseLimits(obj.limits, at),
  };
  if (builtin !== undefined) definition.builtin = builtin as Builtin;
  if (typeof obj.package === 'string') definition.package = obj.package;
  if (typeof obj.install_hint === 'string') definition.install_hint = obj.install_hint;
  const aliases = requireStrings(obj, 'aliases', at, true);
  if (aliases.length > 0) definition.aliases = aliases;
  if (obj.env !== undefined) {
    const env = obj.env as Record<string, unknown>;
    if (typeof env !== 'object' || env === null || Array.isArray(env))
      throw new CatalogError(`${at}: "env" must be an object of names to strings`);
    for (const [name, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || typeof value !== 'string')
        throw new CatalogError(`${at}: "env.${name}" must be a string under a valid variable name`);
    }
    definition.env = env as Record<string, string>;
  }
  if (obj.output_by_param !== undefined) {
    const o = obj.output_by_param as TypeDefinition['output_by_param'];
    if (typeof o?.param !== 'string' || typeof o.formats !== 'object' || o.formats === null)
      throw new CatalogError(`${at}: "output_by_param" must be {"param", "formats"}`);
    definition.output_by_param = o;
  }
  if (obj.submit_waits_seconds !== undefined) {
    const v = obj.submit_waits_seconds;
    if (typeof v !== 'number' || !(v > 0) || v > 10)
      throw new CatalogError(`${at}: "submit_waits_seconds" must be a number of seconds from 0 to 10`);
    definition.submit_waits_seconds = v;
  }
  if (obj.cacheable !== undefined) {
    if (typeof obj.cacheable !== 'boolean')
      throw new CatalogError(`${at}: "cacheable" must be true or false`);
    if (obj.cacheable) definition.cacheable = true;
  }
  if (obj.archive_in !== undefined && obj.archive_in !== false) {
    definition.archive_in = parseArchiveIn(obj.archive_in, at);
  }
  if (obj.binds !== undefined) {
    const binds = requireStrings(obj, 'binds', at);
    for (const path of binds) {
      if (!/^\/(etc|usr|var|opt)\/[^\0]+$/.test(path) || path.split('/').includes('..'))
        throw new CatalogError(
          `${at}: "binds" entries must be absolute paths under /etc, /usr, /var or /opt`,
        );
    }
    definition.binds = binds;
  }
  if (obj.params !== undefined) {
    if (!Array.isArray(obj.params)) throw new CatalogError(`${at}: "params" must be an array`);
    definition.params = obj.params as ParamSpec[];
  }
  return definition;
}

export function loadCatalogFile(path: string): TypeDefinition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CatalogError(`cannot read processing types from ${path}: ${(err as Error).message}`);
  }
  const types = (parsed as { types?: unknown }).types;
  if (!Array.isArray(types)) throw new CatalogError(`${path}: expected {"types": [...]}`);
  return types.map((raw, i) => parseTypeDefinition(raw, `${path} entry ${i}`));
}

/** A bare name must be an executable on PATH; an absolute path (a model, a data file) must exist. */
function isExecutableOnPath(name: string): boolean {
  if (name.includes('/')) return canAccess(name, constants.R_OK);
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir && canExecute(join(dir, name))) return true;
  }
  return false;
}

function canExecute(path: string): boolean {
  return canAccess(path, constants.X_OK);
}

function canAccess(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * The output's MIME type and extension for a job of this type with these
 * params: the type's own, unless a parameter picks the format.
 */
export function outputFormat(
  definition: TypeDefinition,
  params: Record<string, string | number> | undefined,
): { mime: string; ext: string } {
  const byParam = definition.output_by_param;
  const value = byParam
    ? (params?.[byParam.param] ?? definition.params?.find((p) => p.name === byParam.param)?.default)
    : undefined;
  const picked = byParam && value !== undefined ? byParam.formats[String(value)] : undefined;
  return picked ?? { mime: definition.mime_out[0] ?? 'application/octet-stream', ext: definition.ext };
}

export interface CatalogEntry {
  definition: TypeDefinition;
  available: boolean;
  /** What from `requires` is not installed: a tool's name, or "the Node package NAME". */
  missing: string[];
  /** The Node packages of `npm:` requirements, with those they load: the sandbox binds them. */
  nodePackages: NodePackage[];
}

export class Catalog {
  private readonly entries = new Map<string, CatalogEntry>();
  private readonly byName = new Map<string, CatalogEntry>();

  constructor(definitions: TypeDefinition[]) {
    for (const definition of definitions) {
      const missing: string[] = [];
      const nodePackages: NodePackage[] = [];
      for (const required of definition.requires) {
        if (required.startsWith(NPM_REQUIREMENT)) {
          const found = resolveNodePackage(required.slice(NPM_REQUIREMENT.length));
          if (found.ok) nodePackages.push(...found.packages);
          else missing.push(found.reason);
        } else if (!isExecutableOnPath(required)) missing.push(required);
      }
      const entry: CatalogEntry = { definition, available: missing.length === 0, missing, nodePackages };
      // A later definition (the operator's file) replaces a built-in of the same name.
      this.entries.set(definition.type, entry);
    }
    for (const entry of this.entries.values()) {
      this.byName.set(entry.definition.type, entry);
      for (const alias of entry.definition.aliases ?? []) {
        if (!this.entries.has(alias)) this.byName.set(alias, entry);
      }
    }
  }

  /** The built-in catalog, then the operator's types file when given. */
  static load(typesFile?: string): Catalog {
    const definitions = loadCatalogFile(BUILTIN_CATALOG_PATH);
    if (typesFile) definitions.push(...loadCatalogFile(typesFile));
    return new Catalog(definitions);
  }

  /** Look a type up by its name or one of its aliases. */
  resolve(name: string): CatalogEntry | undefined {
    return this.byName.get(name);
  }

  list(): CatalogEntry[] {
    return [...this.entries.values()];
  }

  /** Canonical names and aliases, for workers that claim by type. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The wire description of every type for `GET /v1/types`. */
  describe(): ProcessingType[] {
    return this.list().map(({ definition: d, available, missing }) => {
      const described: ProcessingType = {
        type: d.type,
        name: d.name,
        description: d.description,
        input: { mime_in: d.mime_in },
        output: { mime_out: d.mime_out, ext: d.ext, display: d.display },
        example: d.example,
        available,
      };
      if (!available) {
        described.install_hint =
          d.install_hint ??
          `Install ${missing.join(', ')}${d.package ? ` (Debian package ${d.package})` : ''}.`;
      }
      if (d.aliases) described.aliases = d.aliases;
      if (d.params) described.params = d.params;
      if (d.cacheable) described.cacheable = true;
      return described;
    });
  }
}
