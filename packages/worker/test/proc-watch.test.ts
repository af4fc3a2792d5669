import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { watchTree } from '../src/proc-watch.js';

/** A shell with three sleeping children: a tree of four processes. */
function startTree() {
  const child = spawn('sh', ['-c', 'sleep 30 & sleep 30 & sleep 30 & wait'], {
    detached: true,
    stdio: 'ignore',
  });
  return {
    pid: child.pid as number,
    kill: () => process.kill(-(child.pid as number), 'SIGKILL'),
  };
}

function firstViolation(pid: number, limits: { maxMemoryBytes: number; maxProcesses: number }) {
  return new Promise<{ kind: string; measured: number }>((resolve) => {
    const watch = watchTree(pid, limits, (kind, measured) => {
      watch.stop();
      resolve({ kind, measured });
    });
  });
}

describe('the process-tree watch', () => {
  it('counts every process under the root, children of children included', async () => {
    const tree = startTree();
    try {
      const violation = await firstViolation(tree.pid, { maxMemoryBytes: 2 ** 40, maxProcesses: 3 });
      expect(violation.kind).toBe('processes');
      expect(violation.measured).toBeGreaterThanOrEqual(4);
    } finally {
      tree.kill();
    }
  });

  it('measures the resident memory of the tree', async () => {
    const tree = startTree();
    try {
      const violation = await firstViolation(tree.pid, { maxMemoryBytes: 1, maxProcesses: 100 });
      expect(violation.kind).toBe('memory');
      expect(violation.measured).toBeGreaterThan(1);
    } finally {
      tree.kill();
    }
  });

  it('leaves a tree within its limits alone', async () => {
    const tree = startTree();
    let violated = false;
    const watch = watchTree(tree.pid, { maxMemoryBytes: 2 ** 40, maxProcesses: 10 }, () => {
      violated = true;
    });
    await new Promise((r) => setTimeout(r, 500));
    const { peakBytes } = watch.stop();
    tree.kill();
    expect(violated).toBe(false);
    expect(peakBytes).toBeGreaterThan(0);
  });

  it('keeps watching a tree past its first seconds, when ticks are sparser', async () => {
    // Quiet for 3 s (past the young phase), then twelve more processes.
    const child = spawn(
      'sh',
      ['-c', 'sleep 3; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & done; wait'],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    const pid = child.pid as number;
    try {
      const started = performance.now();
      const violation = await firstViolation(pid, { maxMemoryBytes: 2 ** 40, maxProcesses: 8 });
      expect(violation.kind).toBe('processes');
      expect(performance.now() - started).toBeGreaterThan(2900);
    } finally {
      process.kill(-pid, 'SIGKILL');
    }
  });
});
