/**
 * Where the key and URL come from: `BSUBIO_API_KEY` / `BSUBIO_BASE_URL`, else
 * `~/.config/bsubio/config.json` (`{"api_key", "base_url"}`), the file the
 * bsub.io CLI and SDKs share. The CLI resolves them itself (the SDK applies
 * the same order) so that it can say where a rejected key came from.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.js';

export const DEFAULT_BASE_URL = 'https://app.bsub.io';

export interface ConfigFile {
  api_key?: string;
  base_url?: string;
  [other: string]: unknown;
}

export interface Settings {
  apiKey: string | undefined;
  baseUrl: string;
  /** Where each came from, for -verbose and error messages. */
  apiKeyFrom: 'BSUBIO_API_KEY' | 'config file' | 'none';
  baseUrlFrom: 'BSUBIO_BASE_URL' | 'config file' | 'default';
  path: string;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), '.config', 'bsubio', 'config.json');
}

export function readConfigFile(path: string): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as ConfigFile;
  } catch {}
  throw new CliError(`${path} is not valid JSON`, "Fix it or run 'bsubio config' to write it again.");
}

export function resolveSettings(env: NodeJS.ProcessEnv): Settings {
  const path = configPath(env);
  const file = readConfigFile(path);
  const fileKey = typeof file?.api_key === 'string' && file.api_key !== '' ? file.api_key : undefined;
  const fileUrl = typeof file?.base_url === 'string' && file.base_url !== '' ? file.base_url : undefined;
  return {
    apiKey: env.BSUBIO_API_KEY || fileKey,
    apiKeyFrom: env.BSUBIO_API_KEY ? 'BSUBIO_API_KEY' : fileKey ? 'config file' : 'none',
    baseUrl: env.BSUBIO_BASE_URL || fileUrl || DEFAULT_BASE_URL,
    baseUrlFrom: env.BSUBIO_BASE_URL ? 'BSUBIO_BASE_URL' : fileUrl ? 'config file' : 'default',
    path,
  };
}

/**
 * Write the file readable by its owner only (0600), keeping fields other
 * tools may have added. Written to a temporary name and renamed, so a reader
 * never sees half a file.
 */
export function writeConfigFile(path: string, values: { api_key: string; base_url: string }): void {
  let existing: ConfigFile = {};
  try {
    existing = readConfigFile(path) ?? {};
  } catch {}
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ ...existing, ...values }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
