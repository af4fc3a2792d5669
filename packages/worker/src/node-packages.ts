/**
 * Node packages a tool imports (a `requires` entry `npm:NAME`): found the way
 * Node finds them from @bsubio/worker, with the packages they depend on, so
 * the runner can bind exactly those directories read-only into the sandbox.
 * typst/pdf's compiler is one: @myriaddreamin/typst-ts-node-compiler, an
 * optional dependency of @bsubio/worker whose native binary comes in a
 * second, per-platform package.
 */
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The prefix of a `requires` entry that names a Node package. */
export const NPM_REQUIREMENT = 'npm:';

/** Where the sandbox sees the bound packages; tools under /opt/bsubio/tools resolve them from here. */
export const SANDBOX_NODE_MODULES = '/opt/bsubio/node_modules';

export interface NodePackage {
  name: string;
  /** The package's directory on the host. */
  dir: string;
}

export type NodePackageResolution =
  | { ok: true; packages: NodePackage[] }
  /** `reason` completes "… is not installed" and "Install …". */
  | { ok: false; reason: string };

interface Manifest {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  /** napi-rs packages: their binary is one of the optionalDependencies, per platform. */
  napi?: unknown;
}

const workerRoot = fileURLToPath(new URL('..', import.meta.url));

/** The directory Node would load the package `name` from, seen from `fromDir`; undefined when none. */
function findPackage(name: string, fromDir: string): string | undefined {
  const lookup = createRequire(join(fromDir, 'package.json')).resolve.paths(name) ?? [];
  return lookup.map((dir) => join(dir, name)).find((dir) => existsSync(join(dir, 'package.json')));
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/**
 * The package `name` and everything it loads: its dependencies (all must be
 * installed) and those of its optional dependencies npm installed here. A
 * napi-rs package also needs one optional dependency, its binary for this
 * platform, or it would resolve and then fail at its first use.
 */
export function resolveNodePackage(name: string, fromDir: string = workerRoot): NodePackageResolution {
  const packages: NodePackage[] = [];
  const seen = new Set<string>();
  const visit = (pkg: string, from: string, optional: boolean): string | undefined => {
    const dir = findPackage(pkg, from);
    if (!dir) return optional ? undefined : `the Node package ${pkg}`;
    if (seen.has(dir)) return undefined;
    seen.add(dir);
    packages.push({ name: pkg, dir });
    let manifest: Manifest;
    try {
      manifest = readManifest(dir);
    } catch (err) {
      return `the Node package ${pkg} (its package.json is unreadable: ${(err as Error).message})`;
    }
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const problem = visit(dep, dir, false);
      if (problem) return problem;
    }
    const before = packages.length;
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit(dep, dir, true);
    if (manifest.napi !== undefined && packages.length === before)
      return `the Node package ${pkg}'s binary for ${process.platform}-${process.arch} (none of its optional dependencies is installed)`;
    return undefined;
  };
  const problem = visit(name, fromDir, false);
  return problem ? { ok: false, reason: problem } : { ok: true, packages };
}

/**
 * True when any user (the sandbox's `nobody`) can reach `dir`: it and every
 * directory above it are searchable by others. npm's files are
 * world-readable, so the way in is what a private home (/root) closes.
 */
function reachableByOthers(dir: string): boolean {
  const parts = dir.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    if ((statSync(`/${parts.slice(0, i).join('/')}`).mode & 0o001) === 0) return false;
  }
  return true;
}

const copies = new Map<string, Promise<string>>();

/**
 * The host directory to bind into a sandbox that runs as the host's
 * `nobody`: `dir` itself when that user can reach it (a system-wide or /app
 * install), else a copy made once at `copyAs` under `base` (an install under
 * /root, or a checkout in a private directory). For npm packages and for the
 * directory of the Node binary the tools run on.
 */
export function hostDirForNobody(dir: string, copyAs: string, base: () => Promise<string>): Promise<string> {
  let copy = copies.get(dir);
  if (!copy) {
    copy = (async () => {
      if (reachableByOthers(dir)) return dir;
      const root = await base();
      const target = join(root, copyAs);
      await cp(dir, target, { recursive: true, force: true });
      // cp makes the folders above the copy with the server's umask (077):
      // open them for the sandbox's user to pass through.
      for (let up = dirname(target); up.startsWith(`${root}/`); up = dirname(up)) chmodSync(up, 0o711);
      return target;
    })();
    copies.set(dir, copy);
    // A copy that failed (a full disk) is tried again by the next job.
    copy.catch(() => copies.delete(dir));
  }
  return copy;
}
