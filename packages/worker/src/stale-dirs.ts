/**
 * Temporary directories named after the process that made them
 * (`bsubio-worker-<pid>`, `bsubio-sandbox-<pid>-…`). A process removes its
 * own when it exits; one killed before that leaves it, and the next process
 * of the kind removes it.
 */
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive } from './cgroup.js';

/** Remove the directories in the temp dir whose name `pattern` matches, its first group a pid, and whose process is gone. */
export function removeDirsOfGoneProcesses(pattern: RegExp): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = pattern.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}
